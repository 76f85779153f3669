package web

import "testing"

// A page that subscribes in a loop to topics the node refuses (a page's
// bug, or a token that allows nothing it asks for) gets a failed handle
// each time. The client keeps refused subscriptions for a subscription
// the server may make of the same pattern to take up (server_subs_test.go),
// but no more than a bound, the newest, and none the page unsubscribed:
// its memory does not grow with the loop.

// refusedLoop is how many refused subscriptions the tests make: more than
// the client keeps (1000).
const refusedLoop = 1100

// TestClientBoundsTheRefusedSubscriptionsItKeeps: over WebSocket, with a
// ping after every 5 refusals, as a page that also does something that
// works (ten refused commands in a row would have the node close the
// connection, which forgets them all). The newest refused is still taken
// up by a backend's subscription of its topic, and once the page
// unsubscribes its failed handles none is kept.
func TestClientBoundsTheRefusedSubscriptionsItKeeps(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100, pingInterval: 0, token: '` + tokenAllowing(t, "news") + `' });
		window.drops = 0;
		h.on('state', (s) => { if (s === 'disconnected') drops++; });
		h.connect();
		return h.subscribe('news', () => {}).ready;
	})`)
	p.run(`window.failed = 0; window.pings = 0; window.handles = [];
		for (let i = 0; i < ` + itoa(refusedLoop) + `; i++) {
			handles.push(h.subscribe('secret.' + i, () => {}, { onError: (err) => { if (err.code === 'forbidden') failed++; } }));
			if (i % 5 === 4) h.ping().then(() => pings++);
		}; 0`)
	p.wait(`failed === ` + itoa(refusedLoop) + ` && pings === ` + itoa(refusedLoop/5))
	if got := p.value(`drops + ' ' + (h._refused.size <= 1000)`); got != "0 true" {
		t.Fatalf("drops and whether the refused kept are at most 1000: %q (%s kept), want 0 true",
			got, p.value(`h._refused.size`))
	}
	last := "secret." + itoa(refusedLoop-1)
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"`+last+`"}`)
	p.wait(`handles[` + itoa(refusedLoop-1) + `].state === 'live'`)
	p.run(`for (const s of handles) s.unsubscribe(); 0`)
	if got := p.value(`h._refused.size`); got != "0" {
		t.Errorf("refused subscriptions kept after the page unsubscribed them all: %s, want 0", got)
	}
	p.checkNoProblems()
}

// TestClientOverSSEBoundsTheRefusedSubscriptionsItKeeps: over SSE the
// streams reopen without a drop, which alone forgets what was refused;
// the client refuses by itself every subscription past the 32 a stream
// carries (too_many_subscriptions), here in one go.
func TestClientOverSSEBoundsTheRefusedSubscriptionsItKeeps(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		window.failed = 0; window.handles = [];
		for (let i = 0; i < ` + itoa(refusedLoop) + `; i++) {
			handles.push(h.subscribe('t.' + i, () => {}, { onError: (err) => { if (err.code === 'too_many_subscriptions') failed++; } }));
		}
		h.connect();
	})`)
	p.wait(`h.state === 'connected' && failed === ` + itoa(refusedLoop-32))
	if got := p.value(`h._refused.size <= 1000`); got != "true" {
		t.Fatalf("refused subscriptions kept: %s, want at most 1000", p.value(`h._refused.size`))
	}
	p.run(`for (const s of handles) if (s.state === 'failed') s.unsubscribe(); 0`)
	if got := p.value(`h._refused.size`); got != "0" {
		t.Errorf("refused subscriptions kept after the page unsubscribed them all: %s, want 0", got)
	}
	p.checkNoProblems()
}
