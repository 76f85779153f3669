package web

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// holdingProxy stands for a proxy that holds WebSocket upgrades without
// ever answering them and passes plain HTTP to the node.
type holdingProxy struct{ next http.Handler }

func (p holdingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		<-r.Context().Done()
		return
	}
	p.next.ServeHTTP(w, r)
}

// TestClientFallsBackToSSEWhenUpgradesHang: upgrades that hang while the
// node answers plain HTTP are a network that blocks WebSocket, as
// refused ones are: after two in a row the client uses SSE.
func TestClientFallsBackToSSEWhenUpgradesHang(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(holdingProxy{next: httputil.NewSingleHostReverseProxy(target)})
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	p := newPage(t, srv.URL+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		window.h = new herald.Herald('/ws', { timeout: 500, minDelay: 20, maxDelay: 100 });
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "sse" {
		t.Fatalf("transport %q, want sse", tr)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}
