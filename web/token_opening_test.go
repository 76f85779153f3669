package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// A token given by setToken while a WebSocket is being opened with the
// one before is sent in a refresh once welcomed: the node holds the old
// one, and would close with 4001 at its exp.
func TestClientRefreshesATokenGivenWhileConnecting(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ token: 'old' }`)
	c := f.accept(ctx)
	if c.token() != "old" {
		t.Fatalf("connected with token %q, want old", c.token())
	}
	p.run(`h.setToken('new')`)
	c.welcome()
	if cmd := c.expect(ctx, "refresh"); cmd["token"] != "new" {
		t.Fatalf("refresh %v, want token new", cmd)
	}
}

// TestClientOverSSEReopensWithATokenGivenWhileItOpens: a stream cannot
// take a refresh, so one opened with the token before a setToken made
// while it was being opened is reopened with the new one as soon as it
// opens, rather than being ended at the old one's exp (4001), which
// stops a client with a fixed token.
func TestClientOverSSEReopensWithATokenGivenWhileItOpens(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	proxy, front := newBlockingProxy(t, base)
	p := newPage(t, front+"/herald.js", `true`)
	// The old token lives 4 to 5 s from now, its exp a whole second as
	// JWT has it, so that the wait past it is no longer than it needs: what
	// must come before it, until the stream with the new token opens, takes
	// about a second on a quiet machine.
	expires := time.Now().Add(5 * time.Second).Truncate(time.Second)
	expiring := signedToken(t, time.Until(expires))
	fresh := signedToken(t, time.Hour)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + expiring + `' });
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	release := proxy.cutAndHold()
	p.wait(`h.state === 'connecting' && h._es !== null`) // the reopen, held by the proxy
	p.run(`h.on('state', (s) => states.push(s)); h.setToken('` + fresh + `')`)
	release()
	deadline := time.Now().Add(10 * time.Second)
	for !streamedWith(proxy.streamQueries(), fresh) {
		if time.Now().After(deadline) {
			t.Fatalf("no stream opened with the new token: %q", proxy.streamQueries())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.wait(`h.state === 'connected'`)
	p.pause(time.Until(expires) + time.Second) // past the old token's exp
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`states.join()`); got != "connected,connecting,connected" {
		t.Errorf("states after the new token %q, want the one reopen and no drop", got)
	}
	p.checkNoProblems()
}

// streamedWith says whether one of the stream requests' queries carries token.
func streamedWith(queries []string, token string) bool {
	for _, q := range queries {
		v, err := url.ParseQuery(q)
		if err == nil && strings.EqualFold(v.Get("token"), token) {
			return true
		}
	}
	return false
}

// TestClientOverSSEReportsATokenFunctionFailingAtAReopen: a stream reopened
// (here for a new subscription) once its token has expired asks the
// token function for another; one that fails is an 'error' (code token),
// once, as it is before any other attempt, and the client retries with
// the backoff. The page's clock runs two hours ahead of the node's, so
// the token the node still takes has expired for the client.
func TestClientOverSSEReportsATokenFunctionFailingAtAReopen(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.errors = []; window.states = []; window.calls = 0;
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 60000, maxDelay: 60000,
			token: () => { if (calls++ === 0) return '` + signedToken(t, time.Hour) + `'; throw new Error('signed out'); } });
		h.on('error', (e) => errors.push(e.code + ': ' + e.message));
		h.on('state', (s, info) => states.push(s + (info?.retryIn ? ' later' : '')));
		const sub = h.subscribe('news', () => {});
		h.connect();
		return sub.ready;
	})`)
	p.run(`const now = Date.now; Date.now = () => now() + 2 * 3600 * 1000; h.subscribe('other', () => {})`)
	p.wait(`states.at(-1) === 'disconnected later'`)
	p.pause(300 * time.Millisecond)
	if got := p.value(`calls + ' ' + errors.join('|')`); got != "2 token: token function failed: signed out" {
		t.Errorf("token function calls and errors: %s, want 2 calls and one token error", got)
	}
	p.checkNoProblems()
}

// TestClientOverSSEOpensOnceWithATokenGivenWhileItsFunctionIsAsked: a
// token given by setToken while the token function is asked before a
// stream opens is the one the stream opens with (the answer, older, is
// dropped), so the stream is not reopened with it once open: that would
// cost a second stream, its resume and its subscribe hooks for nothing.
func TestClientOverSSEOpensOnceWithATokenGivenWhileItsFunctionIsAsked(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	given := signedToken(t, time.Hour)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100,
			token: () => new Promise((resolve) => { window.answer = resolve; }) });
		h.on('state', (s) => states.push(s));
		h.subscribe('news', (m) => got.push(m.data));
		h.connect();
	})`)
	p.wait(`window.answer !== undefined`)
	p.run(`h.setToken('` + given + `'); answer('` + signedToken(t, 2*time.Hour) + `')`)
	p.wait(`h.state === 'connected'`)
	if p.value(`new URL(h._es.url).searchParams.get('token') === '`+given+`'`) != "true" {
		t.Fatalf("the stream did not open with the token given")
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`states.join()`); got != "connecting,connected" {
		t.Errorf("states %q, want one stream opened", got)
	}
	p.checkNoProblems()
}
