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
