package web

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientKeepsASubscriptionMadeAgainWhileTheOldOneWasRefused: a page
// that drops a subscription and makes it again while the first
// subscribe's refusal (forbidden, by the subscribe hook) is on its way
// gets that refusal before the second subscribe's answer. The refusal is
// of the old subscribe's command id, and the new subscription stands: it
// goes live and gets the topic's messages.
func TestClientKeepsASubscriptionMadeAgainWhileTheOldOneWasRefused(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusForbidden) // the first subscribe only
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(hook.Close)
	base := startNodeWithSubscribeHook(t, hook.URL)
	proxy, front := startSlowLink(t, base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = [];
		window.h = new herald.Herald('/ws', { transport: 'websocket', minDelay: 200, maxDelay: 400, pingInterval: 0 });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		h.connect();
		return new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
	})`)
	release := proxy.hold()
	p.run(`window.old = h.subscribe('flaky', () => {})`)
	proxy.waitHeld(t) // the refusal, on its way
	p.run(`old.unsubscribe(); window.again = h.subscribe('flaky', (m) => got.push(m.data))`)
	release()
	p.run(`again.ready`)
	publishHTTP(t, base, `{"topic":"flaky","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`again.state + ' ' + errors.join()`); got != "live " {
		t.Errorf("the subscription made again and the errors: %q, want live and none", got)
	}
	p.checkNoProblems()
}

// TestClientOverSSESaysNothingOfATopicDroppedWhileItAskedWhy: a stream
// refused for one of its topics (the subscribe hook failing for it) is
// asked why with a plain GET; a topic the page dropped meanwhile is in
// no subscription, and its refusal is heard of no more than a
// subscribe's refused after its unsubscribe: no 'error', and the stream
// opens at once with the others.
func TestClientOverSSESaysNothingOfATopicDroppedWhileItAskedWhy(t *testing.T) {
	t.Parallel()
	asking, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 { // the GET asking why the stream was refused
			close(asking)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	base := startNodeWithSubscribeHook(t, hook.URL)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 200, maxDelay: 400 });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		window.news = h.subscribe('news', (m) => got.push(m.data));
		window.flaky = h.subscribe('flaky', () => {});
		h.connect();
	})`)
	select {
	case <-asking:
	case <-time.After(browserTimeout):
		t.Fatal("the client never asked why the stream was refused")
	}
	p.run(`flaky.unsubscribe()`)
	close(release)
	p.run(`news.ready`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`errors.join()`); got != "" {
		t.Errorf("errors: %q, want none", got)
	}
	p.checkNoProblems()
}

// TestClientOverSSEKeepsASubscriptionMadeAgainWhileItAskedWhy: a stream
// refused for a topic (forbidden by the subscribe hook) is asked why with
// a plain GET; a page that drops that subscription and makes it again
// meanwhile has a new one that no stream has asked for yet. The refusal
// is the old one's, found by its topic, and the new subscription stands:
// the next stream asks the hook about it, which now allows it, and it
// goes live, as over WebSocket, where its own subscribe is answered.
func TestClientOverSSEKeepsASubscriptionMadeAgainWhileItAskedWhy(t *testing.T) {
	t.Parallel()
	asking, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch n.Add(1) {
		case 1: // the stream
		case 2: // the GET asking why
			close(asking)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(hook.Close)
	base := startNodeWithSubscribeHook(t, hook.URL)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = []; window.failed = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 200, maxDelay: 400 });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		window.news = h.subscribe('news', () => {});
		window.flaky = h.subscribe('flaky', () => {});
		h.connect();
	})`)
	select {
	case <-asking:
	case <-time.After(browserTimeout):
		t.Fatal("the client never asked why the stream was refused")
	}
	p.run(`flaky.unsubscribe();
		window.again = h.subscribe('flaky', (m) => got.push(m.data), { onError: (e) => failed.push(e.code) })`)
	close(release)
	p.wait(`again.state !== 'subscribing'`)
	publishHTTP(t, base, `{"topic":"flaky","data":1}`)
	p.wait(`got.join() === '1' || again.state === 'failed'`)
	if got := p.value(`again.state + ' ' + failed.join() + ' ' + errors.join()`); got != "live  " {
		t.Errorf("the subscription made again, its errors and the client's: %q, want live and none", got)
	}
	p.checkNoProblems()
}
