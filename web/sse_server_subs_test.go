package web

import (
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// TestClientOverSSETakesItsTokensSubsAfterAReopen: a stream carries its
// token's subs, and a reopened one (here for a second subscription of the
// page's) carries them again, answering them in its subscribed event. The
// client takes that answer as the subscription's, live again: the page
// that then subscribes to one of them gets it live, and its messages.
func TestClientOverSSETakesItsTokensSubsAfterAReopen(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string]any{"subscribe": []string{"news", "other"}}, "subs": []string{"user:u1.notices"}}
	token, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.notices = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + token + `' });
		const news = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return news.ready;
	})`)
	p.wait(`h._subs.get('user:u1.notices')?.live === true`)
	p.run(`h.subscribe('other', () => {}).ready`) // the stream is reopened with it
	p.run(`window.notices_sub = h.subscribe('user:u1.notices', (m) => notices.push(m.data))`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":1}`)
	publishHTTP(t, base, `{"topic":"news","data":"after"}`)
	p.wait(`got.join() === 'after'`) // the stream sends them in the order published
	if got := p.value(`[notices.join(), notices_sub.state].join(' ')`); got != "1 live" {
		t.Errorf("the token's sub after the reopen: messages and state %q, want %q", got, "1 live")
	}
	p.checkNoProblems()
}

// TestClientOverSSEForgetsABackendsSubscriptionAtAReopen: a backend's
// subscription belongs to the stream it was made on; a reopened stream
// does not carry it. The client forgets it then, as it does one of a
// WebSocket at a reconnect, so that the page subscribing to the topic
// afterwards asks the stream for it and gets its messages, rather than
// waiting for good on a subscription no stream holds.
func TestClientOverSSEForgetsABackendsSubscriptionAtAReopen(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.made = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100,
			token: '` + tokenAllowing(t, "news", "other", "alerts") + `' });
		h.on('subscribed', (reply) => made.push(reply.topic));
		h.connect();
		return h.subscribe('news', () => {}).ready;
	})`)
	controlHTTP(t, base, "subscribe", `{"user":"u1","topic":"alerts"}`)
	p.wait(`made.join() === 'alerts'`)
	p.run(`h.subscribe('other', () => {}).ready`) // the stream is reopened without alerts
	p.run(`window.alerts = h.subscribe('alerts', (m) => got.push(m.data))`)
	p.wait(`alerts.state === 'live'`)
	publishHTTP(t, base, `{"topic":"alerts","data":1}`)
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}

// TestClientOverSSEDoesNotAskForItsTokensSubsByName: a topic of the
// token's subs claim that the token's allow does not cover, which the
// page took, is carried by every stream the client reopens (the node
// adds the claim's topics whatever allow says) and resumed through the
// stream's id, without being asked for by name: asked for so, the node
// refuses the stream forbidden for it, and the page's handle heard
// forbidden at every reopen, failed, and was taken up again by the next
// stream, its 'subscribed' event firing each time.
func TestClientOverSSEDoesNotAskForItsTokensSubsByName(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string]any{"subscribe": []string{"news", "other", "third"}}, "subs": []string{"user:u1.notices"}}
	token, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.notices = []; window.errors = []; window.made = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + token + `' });
		h.on('subscribed', (reply) => made.push(reply.topic));
		const news = h.subscribe('news', () => {});
		h.connect();
		return news.ready;
	})`)
	p.wait(`h._subs.get('user:u1.notices')?.live === true`)
	p.run(`window.taken = h.subscribe('user:u1.notices', (m) => notices.push(m.data),
		{ onError: (err) => errors.push(err.code) }); 0`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":1}`)
	p.wait(`notices.join() === '1'`)
	p.run(`h.subscribe('other', () => {}).ready`) // a reopen
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":2}`)
	p.wait(`notices.join() === '1,2'`)
	p.run(`h.subscribe('third', () => {}).ready`) // another
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":3}`)
	p.wait(`notices.join() === '1,2,3'`)
	want := "live [] [user:u1.notices]"
	if got := p.value(`taken.state + ' [' + errors.join() + '] [' + made.join() + ']'`); got != want {
		t.Errorf("the taken claim topic after two reopens: %q, want %q", got, want)
	}
	p.checkNoProblems()
}

// TestClientOverSSEAsksByNameWhatANewTokensSubsLack: a claim topic the
// page took and left for the stream's claim to carry, which a new
// token's claim no longer holds (its allow does), is asked for by name
// as the stream opens without it, and goes on live.
func TestClientOverSSEAsksByNameWhatANewTokensSubsLack(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	sign := func(subs ...string) string {
		claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(),
			"allow": map[string]any{"subscribe": []string{"news", "other", "user:u1.notices"}}, "subs": subs}
		token, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.notices = []; window.errors = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + sign("user:u1.notices") + `' });
		const news = h.subscribe('news', () => {});
		h.connect();
		return news.ready;
	})`)
	p.wait(`h._subs.get('user:u1.notices')?.live === true`)
	p.run(`window.taken = h.subscribe('user:u1.notices', (m) => notices.push(m.data),
		{ onError: (err) => errors.push(err.code) });
		h.subscribe('other', () => {}).ready`) // a reopen: the claim carries it
	p.run(`h.setToken('` + sign() + `')`) // reopened with a token whose claim lacks it
	p.wait(`h.state === 'connected' && taken.state === 'live'`)
	publishHTTP(t, base, `{"topic":"user:u1.notices","data":1}`)
	p.wait(`notices.join() === '1'`)
	if got := p.value(`errors.join()`); got != "" {
		t.Errorf("errors %q, want none", got)
	}
	p.checkNoProblems()
}
