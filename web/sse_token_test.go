package web

import (
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// TestClientOverSSERefreshesItsTokenBeforeExpiry: a stream cannot take a
// `refresh`, so before its token's exp the client reopens it with a new
// one from the token function, resuming from the last event id, instead
// of letting the node end it at exp (close 4001) and coming back after a
// backoff.
func TestClientOverSSERefreshesItsTokenBeforeExpiry(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	// The first token's exp is a whole second, as JWT has it: the wait
	// past it below is then no longer than it needs.
	expires := time.Now().Add(4 * time.Second).Truncate(time.Second)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.states = []; window.lost = [];
		const tokens = ['` + signedToken(t, time.Until(expires)) + `', '` + signedToken(t, time.Hour) + `'];
		window.calls = 0;
		window.h = new herald.Herald('/ws', { transport: 'sse', refreshMargin: 1, minDelay: 20, maxDelay: 100,
			token: () => tokens[Math.min(calls++, 1)] });
		h.on('state', (s, info) => states.push(s + (info?.code ? ' ' + info.code : '')));
		const sub = h.subscribe('news', (m) => got.push(m.data), { onRecoveryFailed: (info) => lost.push(info) });
		h.connect();
		return sub.ready;
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	// A second subscription reopens the stream before the refresh is due:
	// the refresh is still made once.
	p.run(`h.subscribe('other', () => {}).ready`)
	p.wait(`calls === 2 && h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2'`)
	p.pause(time.Until(expires) + time.Second) // past the first token's exp
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	p.wait(`got.join() === '1,2,3'`)
	if got := p.value(`states.join()`); got != "connecting,connected,connecting,connected,connecting,connected" {
		t.Errorf("states %q, want two reopens and no drop", got)
	}
	if n := p.value(`calls`); n != "2" {
		t.Errorf("token function called %s times, want 2: one refresh", n)
	}
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("recovery reported failed %s times", n)
	}
	p.checkNoProblems()
}

// tokenAllowing signs a client token for jwtSecret that lives an hour and
// allows subscribing to the patterns given.
func tokenAllowing(t *testing.T, subscribe ...string) string {
	t.Helper()
	claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string]any{"subscribe": subscribe}}
	s, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClientOverSSEDropsOnlyTheRefusedSubscription: a stream is refused
// whole for one topic its token does not allow, or one that is not a
// topic (the empty one too); the node names it, and the client fails that subscription alone
// (its onError), as a subscribe over WebSocket would fail, and streams the
// others, rather than stopping for good over one of them.
func TestClientOverSSEDropsOnlyTheRefusedSubscription(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.refused = []; window.errors = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + tokenAllowing(t, "news", "chat.*") + `' });
		h.on('error', (e) => errors.push(e.code));
		for (const topic of ['news', 'secret', 'chat..bad', '']) {
			h.subscribe(topic, (m) => got.push(m.data), { onError: (e) => refused.push(topic + ' ' + e.code) });
		}
		h.connect();
	})`)
	p.wait(`h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`refused.sort().join() + ' | ' + errors.join()`); got != " invalid_topic,chat..bad invalid_topic,secret forbidden | " {
		t.Errorf("refused subscriptions and client errors: %s", got)
	}
	p.checkNoProblems()
}

// A stream refused for a topic the page unsubscribed from while the client
// asked why is no refusal of the client: forbidden for that topic, it
// stopped for good as for an origin refused, though the next stream,
// without it, opens.
func TestClientOverSSEGoesOnWhenTheRefusedTopicWasDropped(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + tokenAllowing(t, "news") + `' });
		h.on('state', (s) => states.push(s));
		h.subscribe('news', (m) => got.push(m.data));
		window.secret = h.subscribe('secret', () => {});
		// The page drops 'secret' as the client asks why its stream was refused.
		const fetchNow = window.fetch;
		window.fetch = (url, options) => { if (String(url).includes('/sse')) secret.unsubscribe(); return fetchNow(url, options); };
		h.connect();
	})`)
	p.wait(`h.state === 'connected' || h.state === 'stopped'`)
	if got := p.value(`h.state + ' ' + states.includes('stopped')`); got != "connected false" {
		t.Fatalf("state after a refusal of a dropped topic: %s, want connected and never stopped", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}

// TestClientKeepsATokenGivenWhileARefreshAsksForOne: a token given by
// setToken while the token function is being asked for the refresh
// before exp is newer than the function's answer, which must not
// replace it (as it does not when a connection opens). Here the token
// given allows a topic the late answer does not: the stream stays on
// the one given, and that topic's subscription stays live.
func TestClientKeepsATokenGivenWhileARefreshAsksForOne(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	given := tokenAllowing(t, "news", "secret")
	late := tokenAllowing(t, "news")
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.errors = []; window.calls = 0;
		const first = '` + signedToken(t, 4*time.Second) + `';
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100,
			token: () => calls++ === 0 ? first : new Promise((resolve) => { window.answer = resolve; }) });
		h.on('error', (e) => errors.push(e.code + ' ' + e.topic));
		const sub = h.subscribe('news', () => {});
		h.connect();
		return sub.ready;
	})`)
	p.wait(`window.answer !== undefined`) // the refresh before exp asks
	p.run(`h.setToken('` + given + `'); window.secret = h.subscribe('secret', () => {}); secret.ready`)
	p.run(`answer('` + late + `')`)
	p.wait(`h.state === 'connected' && secret.state !== 'subscribing'`)
	got := p.value(`secret.state + ' ' + (new URL(h._es.url).searchParams.get('token') === '` + given + `') + ' ' + errors.join()`)
	if got != "live true " {
		t.Errorf("secret's state, stream on the token given, errors: %q, want live, true and none", got)
	}
	p.checkNoProblems()
}

// TestClientOverSSEReopensWithARefreshedTokenThatCameWhileItOpened: the
// token function's answer for the refresh before exp may come while the
// stream is being opened again (here after a drop) with the token
// before. A stream takes no refresh: it is reopened with the new token
// once open, as with one setToken gave meanwhile, rather than ended at
// the old one's exp (4001) to come back after a backoff.
func TestClientOverSSEReopensWithARefreshedTokenThatCameWhileItOpened(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	proxy, front := newBlockingProxy(t, base)
	// A whole second, as JWT has exp: the wait past it below is then no
	// longer than it needs.
	expires := time.Now().Add(5 * time.Second).Truncate(time.Second)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.states = []; window.calls = 0;
		const first = '` + signedToken(t, time.Until(expires)) + `';
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100,
			token: () => calls++ === 0 ? first : new Promise((resolve) => { window.answer = resolve; }) });
		h.on('state', (s, info) => states.push(s + (info?.code ? ' ' + info.code : '')));
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	p.wait(`window.answer !== undefined`) // the refresh before exp asks
	release := proxy.cutAndHold()
	p.wait(`h.state === 'connecting' && h._es !== null`) // the reconnect, held by the proxy
	p.run(`answer('` + signedToken(t, time.Hour) + `')`)
	release()
	p.pause(time.Until(expires) + time.Second) // past the first token's exp
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.length > 0 || states.includes('disconnected 4001')`)
	if got := p.value(`got.join() + ' ' + states.includes('disconnected 4001')`); got != "1 false" {
		t.Errorf("messages and a close 4001: %q, want the message and no 4001 (states %s)", got, p.value(`states.join()`))
	}
	p.checkNoProblems()
}
