package web

import "testing"

// A page's subscribe the node refused, and a subscription a backend made
// of the same topic on the same connection (docs/protocol.md section 9):
// the connection holds the topic, and the page's callbacks get its
// messages, whichever came first.

// TestClientTakesUpABackendsSubscriptionAfterARefusal: the page's
// subscribe is refused (its token does not allow the topic), then the
// backend subscribes the connection to it, as a backend that grants the
// topic on the page's request does when the page asks first. The
// refused handle is live again and its fn gets the topic's messages.
func TestClientTakesUpABackendsSubscriptionAfterARefusal(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = []; window.made = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100, token: '` + tokenAllowing(t, "news") + `' });
		h.on('subscribed', (reply) => made.push(reply.topic));
		window.alerts = h.subscribe('alerts', (m) => got.push(m.data), { onError: (err) => errors.push(err.code) });
		h.connect();
		return alerts.ready.catch(() => {});
	})`)
	if got := p.value(`alerts.state + ' ' + errors.join()`); got != "failed forbidden" {
		t.Fatalf("the refused subscription's state and errors: %q, want failed forbidden", got)
	}
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"alerts"}`)
	p.wait(`made.join() === 'alerts'`)
	publishHTTP(t, base, `{"topic":"alerts","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`alerts.state + ' ' + errors.join()`); got != "live forbidden" {
		t.Errorf("after the backend's subscription: state and errors %q, want live forbidden", got)
	}
	p.checkNoProblems()
}

// TestClientKeepsABackendsSubscriptionItsSubscribeWasRefusedFor: the
// backend subscribed the connection first; the page's own subscribe of
// the topic, asking for presence on a topic that keeps none, is refused
// presence_off, which did nothing: the node's subscription goes on, and
// the page's fn gets its messages.
func TestClientKeepsABackendsSubscriptionItsSubscribeWasRefusedFor(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = []; window.made = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100, token: '` + tokenAllowing(t, "news") + `' });
		h.on('subscribed', (reply) => made.push(reply.topic));
		h.connect();
		return h.subscribe('news', () => {}).ready;
	})`)
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"alerts"}`)
	p.wait(`made.join() === 'alerts'`)
	p.run(`window.alerts = h.subscribe('alerts', (m) => got.push(m.data),
		{ onJoin: () => {}, onError: (err) => errors.push(err.code) })`)
	p.wait(`errors.join() === 'presence_off'`)
	publishHTTP(t, base, `{"topic":"alerts","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`alerts.state`); got != "live" {
		t.Errorf("the subscription after the refusal: state %q, want live", got)
	}
	p.checkNoProblems()
}
