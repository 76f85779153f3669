package web

import (
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

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
	if got := p.value(`alerts.state + ' ' + made.join()`); got != "live alerts" {
		t.Errorf("the subscription after the refusal: state and subscribed events %q, want live and alerts once", got)
	}
	p.checkNoProblems()
}

// TestClientResumesATopicOfItsTokensSubs: a topic of the token's subs
// claim the page took is resumed after a reconnect as any other, though
// the node made it again as the connection opened, before the resume:
// what was published while the client was away arrives, once, in order,
// and nothing is reported lost.
func TestClientResumesATopicOfItsTokensSubs(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string]any{"subscribe": []string{"news"}}, "subs": []string{"user:u1.notices"}}
	token, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100, token: '` + token + `' });
		h.connect();
		return new Promise((resolve) => h.on('subscribed', resolve));
	})`)
	p.run(`window.notices = h.subscribe('user:u1.notices', (m) => got.push(m.data),
		{ onRecoveryFailed: (info) => lost.push(info) }); notices.ready`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":1}`)
	p.wait(`got.join() === '1'`)
	p.run(`window.reconnected = new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
		h.close(); 0`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":2}`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":3}`)
	p.run(`h.connect(); reconnected`)
	// Once resumed: a message the node's new subscription sent before the
	// resume came would leave the node nothing to resume it with
	// (recovered:false), docs/protocol.md section 2.
	p.wait(`notices.state === 'live'`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":4}`)
	p.wait(`got.join() === '1,2,3,4'`)
	if got := p.value(`JSON.stringify(lost)`); got != "[]" {
		t.Errorf("recovery reported failed: %s", got)
	}
	p.checkNoProblems()
}

// TestClientTakingUpAfterARefusedResumeReportsWhatItMissed: the page took
// a backend's subscription of a topic its token does not allow; after a
// reconnect its resume is refused (the order belonged to the connection
// before), a message is published, and the backend subscribes the new
// connection again. Taken up, the subscription goes on from the node's
// position, past the message the page never got: onRecoveryFailed says
// so, from where the page was, as a resume answered recovered:false does.
func TestClientTakingUpAfterARefusedResumeReportsWhatItMissed(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100, token: '` + tokenAllowing(t, "news") + `' });
		h.connect();
		return h.subscribe('news', () => {}).ready;
	})`)
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"alerts"}`)
	p.wait(`h._subs.get('alerts')?.live === true`)
	p.run(`window.alerts = h.subscribe('alerts', (m) => got.push(m.data),
		{ onRecoveryFailed: (info) => lost.push(info.since.seq + '..' + info.seq) }); 0`)
	publishHTTP(t, base, `{"topic":"alerts","data":1}`)
	p.wait(`got.join() === '1'`)
	p.run(`h.close(); h.connect(); 0`)
	p.wait(`alerts.state === 'failed'`)
	publishHTTP(t, base, `{"topic":"alerts","data":2}`)
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"alerts"}`)
	p.wait(`alerts.state === 'live'`)
	publishHTTP(t, base, `{"topic":"alerts","data":3}`)
	p.wait(`got.join() === '1,3'`)
	if got := p.value(`lost.join()`); got != "1..2" {
		t.Errorf("recovery failures %q, want 1..2", got)
	}
	p.checkNoProblems()
}

// TestClientTakingUpDeliversWhatItHeld: the token's subs made a topic the
// page asked for before it connected, with presence on a topic that keeps
// none. The server's subscription comes first and sends a message while
// the page's subscribe waits, which the client holds for it; the
// subscribe is refused presence_off, and the page's subscription takes up
// the server's, with the held message: nothing of it is dropped.
func TestClientTakingUpDeliversWhatItHeld(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, `window.refusals = []`, "{}")
	p.run(`window.notices = h.subscribe('user:42.notices', (m) => got.push(m.seq),
		{ onJoin: () => {}, onError: (err) => refusals.push(err.code) }); 0`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "subscribed", "topic": "user:42.notices", "epoch": "e1", "seq": 3, "server": true})
	inEpoch := func(m map[string]any) map[string]any { m["epoch"] = "e1"; return m }
	c.send(inEpoch(message("user:42.notices", 4, "held")))
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "presence_off", "message": "no presence here"})
	c.send(inEpoch(message("user:42.notices", 5, "live")))
	p.wait(`notices.state === 'live' && got.includes(5)`)
	if got := p.value(`got.join() + ' ' + refusals.join()`); got != "4,5 presence_off" {
		t.Errorf("seqs and refusals %q, want 4,5 presence_off", got)
	}
	p.checkNoProblems()
}
