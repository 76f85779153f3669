package web

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// holdingProxy stands for a proxy that holds WebSocket upgrades without
// ever answering them and passes plain HTTP to the node.
type holdingProxy struct{ next http.Handler }

func (p holdingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
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
	front := frontNode(t, base, func(next http.Handler) http.Handler { return holdingProxy{next: next} })
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		// maxDelay: no try of WebSocket again after the fallback before the test ends
		window.h = new herald.Herald('/ws', { timeout: 500, minDelay: 20, maxDelay: 60000 });
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

// TestClientOverSSELeavesNoStreamOpenAskingWhy: a stream refused for a
// moment is asked about with a plain GET of the same URL, which, the
// refusal lifted, is a stream itself. The client drops it at once rather
// than leaving it open beside the one it then opens.
func TestClientOverSSELeavesNoStreamOpenAskingWhy(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		return &refusingOnceProxy{next: next, refuses: func(r *http.Request) bool { return r.URL.Path == "/sse" }}
	})
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.h = new herald.Herald('/ws', { transport: 'sse', timeout: 60000, minDelay: 20, maxDelay: 100 });
		const sub = h.subscribe('news', () => {});
		h.connect();
		return sub.ready;
	})`)
	waitForStreams(t, base, 1)
	p.checkNoProblems()
}

// waitForStreams waits until the node at base counts n SSE streams.
func waitForStreams(t *testing.T, base string, n int) {
	t.Helper()
	var last int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, err := http.NewRequest(http.MethodGet, base+"/api/stats", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer k1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		var stats struct {
			SSE int `json:"sse_connections"`
		}
		err = json.NewDecoder(res.Body).Decode(&stats)
		res.Body.Close()
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if last = stats.SSE; last == n {
			return
		}
	}
	t.Fatalf("the node counts %d SSE streams, want %d", last, n)
}

// TestClientTriesWebSocketAgainAfterClose: a fallback to SSE lasts until
// close(); the next connect() starts with WebSocket, as the network that
// blocked it may be another by then (here it is not, and the client falls
// back again).
func TestClientTriesWebSocketAgainAfterClose(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	_, front := newBlockingProxy(t, base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		// maxDelay: no try of WebSocket again after the fallback before the test ends
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 60000 });
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "sse" {
		t.Fatalf("transport %q behind a blocking proxy, want sse", tr)
	}
	if tr := p.value(`(h.close(), h.connect(), h.transport)`); tr != "websocket" {
		t.Fatalf("transport %q after close() and connect(), want websocket", tr)
	}
	p.wait(`h.transport === 'sse' && h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}

// TestClientOverSSESubscribesWhileTheStreamOpens: a subscription made
// while the stream is being opened (it asks for the ones made before) is
// taken as soon as the stream opens: the client reopens it with both.
func TestClientOverSSESubscribesWhileTheStreamOpens(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy, front := newBlockingProxy(t, base)
	release := proxy.cutAndHold()
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		h.subscribe('a', (m) => got.push('a' + m.data));
		h.connect();
	})`)
	p.wait(`h._es !== null`) // held by the proxy
	p.run(`window.b = h.subscribe('b', (m) => got.push('b' + m.data))`)
	release()
	p.run(`b.ready`)
	publishHTTP(t, base, `{"topic":"a","data":1}`)
	publishHTTP(t, base, `{"topic":"b","data":2}`)
	p.wait(`got.join() === 'a1,b2'`)
	p.checkNoProblems()
}
