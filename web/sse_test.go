package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// blockingProxy stands for a network that lets plain HTTP through and
// refuses WebSocket upgrades, as some corporate proxies do. It forwards
// everything else to the node, can cut the streams it carries, and can
// hold new streams back until let go.
type blockingProxy struct {
	next http.Handler

	mu      sync.Mutex
	cuts    []func()      // one per stream in flight
	gate    chan struct{} // closed: streams pass; nil: open
	streams []string      // the query of every /sse request, in order
	lastIDs []string      // the Last-Event-ID header of each, in order
}

func newBlockingProxy(t *testing.T, base string) (*blockingProxy, string) {
	t.Helper()
	p := &blockingProxy{}
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		p.next = next
		return p
	})
	return p, front
}

// frontNode puts a proxy before the node at base: wrap makes it of a
// handler that passes requests to the node. It returns the proxy's URL.
func frontNode(t *testing.T, base string, wrap func(next http.Handler) http.Handler) string {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wrap(httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}

func (p *blockingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
		return
	}
	if r.URL.Path != "/sse" {
		p.next.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.streams = append(p.streams, r.URL.RawQuery)
	p.lastIDs = append(p.lastIDs, r.Header.Get("Last-Event-ID"))
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	ctx, cut := context.WithCancel(r.Context())
	p.mu.Lock()
	p.cuts = append(p.cuts, cut)
	p.mu.Unlock()
	p.next.ServeHTTP(w, r.WithContext(ctx))
}

// cutAndHold ends every stream in flight and holds new ones back until
// release.
func (p *blockingProxy) cutAndHold() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	p.gate = gate
	for _, cut := range p.cuts {
		cut()
	}
	p.cuts = nil
	return func() {
		p.mu.Lock()
		p.gate = nil
		p.mu.Unlock()
		close(gate)
	}
}

func (p *blockingProxy) streamQueries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.streams...)
}

// TestClientFallsBackToSSE: where WebSocket is blocked, herald.js with the
// default transport switches to Server-Sent Events by itself, receives,
// and when the stream is lost reconnects and resumes from its last event
// id with nothing missing and nothing twice; publishing says it cannot.
func TestClientFallsBackToSSE(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy, front := newBlockingProxy(t, base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = []; window.states = [];
		// maxDelay: no try of WebSocket again after the fallback before the test ends
		window.h = new herald.Herald('/ws', { minDelay: 100, maxDelay: 60000 });
		h.on('state', (s) => states.push(s));
		const sub = h.subscribe('news', (m) => got.push(m.seq), { onRecoveryFailed: (info) => lost.push(info) });
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "sse" {
		t.Fatalf("transport %q, want sse", tr)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2'`)

	release := proxy.cutAndHold()
	p.wait(`h.state !== 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	publishHTTP(t, base, `{"topic":"news","data":4}`)
	release()
	p.wait(`h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":5}`)
	p.wait(`got.join() === '1,2,3,4,5'`)
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("recovery reported failed %s times, want none", n)
	}
	queries := proxy.streamQueries()
	if len(queries) < 2 || !strings.Contains(queries[len(queries)-1], "last_event_id=") {
		t.Errorf("stream requests %q: the last one does not resume", queries)
	}
	if code := p.value(`h.publish('news', 6).then(() => 'published', (err) => err.code)`); code != "receive_only" {
		t.Errorf("publish over SSE: %s, want receive_only", code)
	}
	p.checkNoProblems()
}

// TestClientFallsBackToSSEAcrossOrigins: a page of another origin than
// the node's falls back as well. It can tell that the node refused
// nothing only because the node's answer to its plain GET /ws carries
// CORS (docs/protocol.md section 2); unreadable, it looks like a node
// that cannot be reached, and the client would retry WebSocket forever.
func TestClientFallsBackToSSEAcrossOrigins(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	_, front := newBlockingProxy(t, base)
	p := newPage(t, base+"/herald.js", `true`) // origin: the node's, not the proxy's
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		// maxDelay: no try of WebSocket again after the fallback before the test ends
		window.h = new herald.Herald('` + front + `/ws', { minDelay: 100, maxDelay: 60000 });
		const sub = h.subscribe('news', (m) => got.push(m.seq));
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "sse" {
		t.Fatalf("transport %q, want sse", tr)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
}

// TestClientForcedTransports: transport 'sse' listens over SSE where
// WebSocket works too; 'websocket' never falls back, even where it is
// blocked.
func TestClientForcedTransports(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy, front := newBlockingProxy(t, base)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		window.h = new herald.Herald('/ws', { transport: 'sse' });
		const sub = h.subscribe('news', (m) => got.push(m.seq));
		h.connect();
		return sub.ready;
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1' && h.transport === 'sse'`)

	q := newPage(t, front+"/herald.js", `true`)
	q.run(`import('/herald.js').then((herald) => {
		window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'websocket', minDelay: 50, maxDelay: 100 });
		h.on('state', (s) => states.push(s));
		h.subscribe('news', () => {});
		h.connect();
	})`)
	q.wait(`states.filter((s) => s === 'disconnected').length >= 3`)
	if tr := q.value(`h.transport + ' ' + states.includes('connected')`); tr != "websocket false" {
		t.Errorf("forced websocket behind a blocking proxy: %s", tr)
	}
	if n := len(proxy.streamQueries()); n != 0 {
		t.Errorf("%d streams requested with transport websocket", n)
	}
}

// TestEventSourceResumesByItself: a page's own EventSource on /sse, whose
// stream is lost, reconnects by itself with Last-Event-ID, and the stream
// resumes from it with nothing missing and nothing twice.
func TestEventSourceResumesByItself(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy, front := newBlockingProxy(t, base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`new Promise((resolve) => {
		window.got = []; window.opened = 0;
		const es = new EventSource('/sse?topic=news&topic=other');
		es.addEventListener('subscribed', () => { opened++; resolve(); });
		es.onmessage = (ev) => got.push(JSON.parse(ev.data).seq);
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	release := proxy.cutAndHold()
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	release()
	p.wait(`opened === 2`)
	publishHTTP(t, base, `{"topic":"news","data":4}`)
	p.wait(`got.join() === '1,2,3,4'`)
	proxy.mu.Lock()
	ids := append([]string(nil), proxy.lastIDs...)
	proxy.mu.Unlock()
	if len(ids) < 2 || ids[0] != "" || ids[len(ids)-1] == "" {
		t.Errorf("Last-Event-ID of the stream requests: %q", ids)
	}
	p.checkNoProblems()
}

// refusingOnceProxy refuses the first request that refuses says to as a
// node at its per-address limit does (429, the JSON error), and passes
// everything else to the node, as if the limit lifted just before the
// client asked why.
type refusingOnceProxy struct {
	next    http.Handler
	refuses func(*http.Request) bool

	mu      sync.Mutex
	refused bool
}

func isUpgrade(r *http.Request) bool { return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") }

func (p *refusingOnceProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	refuse := !p.refused && p.refuses(r)
	p.refused = p.refused || refuse
	p.mu.Unlock()
	if refuse {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"code":"rate_limited","message":"too many connections"}}`))
		return
	}
	p.next.ServeHTTP(w, r)
}

// TestClientKeepsWebSocketAfterARefusalThatLifted: an upgrade refused
// for a moment, whose refusal is gone by the time the client asks why,
// looks like a network that blocks WebSocket once; the client tries
// WebSocket again rather than falling back for good to SSE, where it
// could not publish.
func TestClientKeepsWebSocketAfterARefusalThatLifted(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		return &refusingOnceProxy{next: next, refuses: isUpgrade}
	})
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		window.h = new herald.Herald('/ws', { minDelay: 100, maxDelay: 300 });
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "websocket" {
		t.Fatalf("transport %q after one refusal that lifted, want websocket", tr)
	}
	if res := p.value(`h.publish('news', 1).then(() => 'published', (err) => err.code)`); res != "published" {
		t.Fatalf("publish: %s", res)
	}
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}
