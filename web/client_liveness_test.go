package web

import (
	"net/url"
	"testing"
	"time"
)

// The ping that checks a quiet link goes out once the link has been
// silent for pingInterval, however the silence falls between the
// client's looks at it: the look after a message comes when the silence
// since it is long enough, not a whole pingInterval after the look before
// (which left a dead link unnoticed for up to twice as long).
func TestClientPingsAfterOneSilence(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The delays the client asks timers for, but for the commands' and the
	// handshake's timeouts.
	delays := `window.delays = [];
		const later = window.setTimeout;
		window.setTimeout = (fn, ms, ...args) => { if (ms < 10000) delays.push(ms); return later(fn, ms, ...args); }`
	p := startClient(t, f, delays, `{ pingInterval: 1500 }`, "chat.lobby")
	c := f.acceptSubscribed(ctx, "e1", 0)
	time.Sleep(250 * time.Millisecond)  // the page's own timers would be counted
	c.send(message("chat.lobby", 1, 1)) // the first look, at 1.5 s, finds 1.25 s of silence
	p.wait(`got.join() === '1'`)
	c.expect(ctx, "ping")
	if got := p.value(`delays.some((ms) => ms > 0 && ms < 1500)`); got != "true" {
		t.Errorf("timer delays %s ms: the look after the message waited a whole pingInterval", p.value(`delays.join()`))
	}
}

// connect() after close() starts the backoff over: the attempts that
// grew it belong to the start before (a node down for a while, say).
func TestClientStartsItsBackoffOverAtConnect(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	f.refuseWith(func(url.Values) *refusal {
		return &refusal{503, "unavailable", "the server is near its open-file limit"}
	})
	p := startClient(t, f, `window.retries = []`, `{ minDelay: 20, maxDelay: 60000 }`)
	p.run(`h.on('state', (s, info) => { if (s === 'disconnected' && info.retryIn !== null) retries.push(info.retryIn); })`)
	p.wait(`retries.length >= 5`) // the fifth waits 160 to 320 ms
	f.refuseWith(nil)
	p.run(`h.close(); retries.length = 0; h.connect()`)
	f.accept(ctx).welcome()
	p.wait(`h.state === 'connected'`)
	p.run(`h._ws.close()`)
	p.wait(`retries.length === 1`)
	if got := p.value(`retries[0]`); p.value(`retries[0] <= 20`) != "true" {
		t.Errorf("the first drop after connect() waits %s ms, want at most minDelay", got)
	}
}
