package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientOverSSEWaitsToAskAgainForATopicMadeAgainWhileRefused: a
// stream refused for one topic opens again at once once that topic is out
// of it (failed, held for now, dropped). One the page dropped and made
// again while the client asked why is still to be asked for: a stream
// opened with it at once may be refused at once for it, and a page that
// did so at every refusal would have streams refused as fast as they
// open. The reopen waits for the backoff instead.
func TestClientOverSSEWaitsToAskAgainForATopicMadeAgainWhileRefused(t *testing.T) {
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
		window.errors = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 60000, maxDelay: 60000 });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		h.subscribe('news', () => {});
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
	p.wait(`h.state === 'disconnected' || h.state === 'connected'`)
	if got := p.value(`h.state + ' ' + flaky.state + ' ' + errors.join()`); got != "disconnected subscribing " {
		t.Errorf("after the refusal, the client and the subscription made again: %q, want disconnected (waiting), subscribing, no error", got)
	}
	if n := refusals.Load(); n != 2 {
		t.Errorf("the hook refused flaky %d times, want 2 (the stream and the GET asking why): a stream opened again at once", n)
	}
	p.checkNoProblems()
}
