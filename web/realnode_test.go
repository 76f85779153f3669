package web

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// startNode runs one real Herald node, in memory, on 127.0.0.1:0, serving
// Handler as cmd/herald does, with API key k1. It returns the base URL.
func startNode(t *testing.T) string {
	t.Helper()
	return startNodeAtRate(t, 1000)
}

// startNodeAtRate is startNode whose connections may send rate commands
// a second, in bursts of twice that.
func startNodeAtRate(t *testing.T, rate int) string {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "real-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: rate},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	return n.Base
}

// publishHTTP publishes as a backend does, with API key k1.
func publishHTTP(t *testing.T, base, body string) {
	t.Helper()
	publishWith(t, base, body, http.Header{"Authorization": {"Bearer k1"}})
}

// publishWith posts body to base's /api/publish with the given headers and
// fails the test unless it is accepted.
func publishWith(t *testing.T, base, body string, header http.Header) {
	t.Helper()
	postWith(t, base+"/api/publish", body, header)
}

// controlHTTP posts a backend's order (docs/protocol.md section 9) to
// base's /api/<route> with API key k1: route is subscribe, unsubscribe
// or disconnect.
func controlHTTP(t *testing.T, base, route, body string) {
	t.Helper()
	postWith(t, base+"/api/"+route, body, http.Header{"Authorization": {"Bearer k1"}})
}

// postWith posts body to url with the given headers and fails the test
// unless it is answered 200.
func postWith(t *testing.T, url, body string, header http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s %s: %v", url, body, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		reply, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		t.Fatalf("POST %s %s: status %d: %s", url, body, res.StatusCode, reply)
	}
}

// TestRealNode runs the dashboard and herald.js against a real node: the
// page subscribes, a backend publishes over HTTP, the messages appear, a
// reconnect resumes without gap or duplicate, and the dashboard counts the
// page's connections.
func TestRealNode(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/", `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))
	p.wait(`document.getElementById('stat-connections').textContent === '0'`)

	p.do(chromedp.SetValue("#tail-pattern", "chat.>"), chromedp.Click("#tail-start"))
	p.wait(`document.getElementById('tail-state').textContent === 'connected'`)
	p.wait(`document.querySelector('#tail li.notice')?.textContent === 'Subscribed to chat.>'`)
	publishHTTP(t, base, `{"topic":"chat.lobby","data":{"text":"from a backend"}}`)
	p.wait(`document.querySelector('#tail li.msg .data')?.textContent === '{"text":"from a backend"}'`)

	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 500, maxDelay: 1000 });
		const sub = h.subscribe('news', (m) => got.push(m.seq), { onRecoveryFailed: (info) => lost.push(info) });
		h.connect();
		return sub.ready;
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2'`)

	// Drop the socket; what is published meanwhile arrives after the resume.
	p.run(`h._ws.close()`) // as a dying network would, seen from the page
	p.wait(`h.state === 'disconnected'`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	publishHTTP(t, base, `{"topic":"news","data":4}`)
	p.wait(`h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":5}`)
	p.run(`void h.publish('news', 6).then((r) => window.published = r)`)
	p.wait(`got.join() === '1,2,3,4,5,6' && window.published?.seq === 6`)
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("recovery reported failed %s times, want none", n)
	}

	// Chromium offers permessage-deflate by itself: a large message comes
	// compressed and arrives intact, and so does the page's own large
	// publish, which Chromium may send compressed.
	if ext := p.value(`h._ws.extensions`); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("the browser's socket negotiated %q, want permessage-deflate", ext)
	}
	big := `{"text":"` + strings.Repeat("ünïcödé and plenty of repetition ", 300) + `"}`
	p.run(`window.bigs = []; h.subscribe('big', (m) => bigs.push(JSON.stringify(m.data))).ready`)
	publishHTTP(t, base, `{"topic":"big","data":`+big+`}`)
	p.run(`void h.publish('big', ` + big + `)`)
	p.wait(`bigs.length === 2`)
	if got := p.value(`bigs[0] === bigs[1] && bigs[0]`); got != big {
		t.Errorf("the large messages arrived as %.80q..., want %.80q...", got, big)
	}

	// The dashboard sees the tail's connection and the client's.
	p.wait(`document.getElementById('stat-connections').textContent === '2'`)
	// Topics published to are listed too: chat.lobby has no exact subscriber.
	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => r.cells[0].textContent).sort().join() === 'big,chat.>,chat.lobby,news'`)
	keepScreenshot(t, p)
	p.checkNoProblems()
}
