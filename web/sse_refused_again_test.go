package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientOverSSEHoldsATopicMadeAgainWhileRefused: a stream refused for
// one topic opens again at once once that topic is out of it (failed,
// held for now, dropped). One the page dropped and made again while the
// client asked why is still to be asked for: a stream opened with it at
// once may be refused at once for it, and a page that did so at every
// refusal would have streams refused as fast as they open. It is held
// out for a while, as a topic refused for now is, and the stream opens
// at once with the others, which go on getting their messages.
func TestClientOverSSEHoldsATopicMadeAgainWhileRefused(t *testing.T) {
	t.Parallel()
	var refusals atomic.Int32
	asking := make(chan struct{})
	answer := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var asked struct{ Topic string }
		_ = json.NewDecoder(r.Body).Decode(&asked)
		w.Header().Set("Content-Type", "application/json")
		if asked.Topic != "flaky" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		// The first refusal is the stream's; the second that of the GET
		// asking why, answered once the page made flaky again.
		if refusals.Add(1) == 2 {
			close(asking)
			select {
			case <-answer:
			case <-time.After(browserTimeout):
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	base := startNodeWithSubscribeHook(t, hook.URL)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.errors = []; window.got = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 60000, maxDelay: 60000 });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		window.news = h.subscribe('news', (m) => got.push(m.data));
		window.flaky = h.subscribe('flaky', () => {});
		h.connect();
	})`)
	select {
	case <-asking:
	case <-time.After(browserTimeout):
		t.Fatal("the client never asked why its stream was refused")
	}
	p.run(`flaky.unsubscribe(); window.flaky = h.subscribe('flaky', () => {})`)
	close(answer)
	p.wait(`h.state === 'disconnected' || news.state === 'live'`)
	if got := p.value(`h.state + ' ' + flaky.state + ' ' + errors.join()`); got != "connected subscribing " {
		t.Fatalf("after the refusal, the client and the subscription made again: %q, want connected, subscribing (held), no error", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if n := refusals.Load(); n != 2 {
		t.Errorf("the hook refused flaky %d times, want 2 (the stream and the GET asking why): asked for again at once", n)
	}
	p.checkNoProblems()
}

// TestClientOverSSEHoldsATopicTheRefusalsOnErrorMadeAgain: a page that
// subscribes again to a topic in the onError of its refusal for good
// (here invalid_topic) has the new subscription held out of the stream
// for a while, and the stream opens at once with its other topics,
// rather than asking for it again at once or waiting with every topic.
func TestClientOverSSEHoldsATopicTheRefusalsOnErrorMadeAgain(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.failed = 0; window.got = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 60000, maxDelay: 60000 });
		window.news = h.subscribe('news', (m) => got.push(m.data));
		const again = () => { window.bad = h.subscribe('a..b', () => {}, { onError: () => { failed++; again(); } }); };
		again();
		h.connect();
	})`)
	p.wait(`h.state === 'disconnected' || news.state === 'live'`)
	if got := p.value(`h.state + ' ' + bad.state + ' ' + failed`); got != "connected subscribing 1" {
		t.Fatalf("after the refusal, the client, the subscription made again and the refusals told: %q, want connected, subscribing (held), 1", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}
