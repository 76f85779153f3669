package web

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
