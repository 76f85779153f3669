package web

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// herald.js and its token: a new one asked for on 4001, one refreshed
// before the expiry its claim says, and the client stopping at 4001 when
// its token is fixed.

// jwt builds an unsigned token with the claims; the client never verifies.
func jwt(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".sig"
}

func TestClientAsksForNewTokenOn4001(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	startClient(t, f, "", `{ token: async () => 'tok' + (++window.calls) }`, "chat.lobby")
	c := f.accept(ctx)
	if c.token() != "tok1" {
		t.Fatalf("first token %q, want tok1", c.token())
	}
	c.welcome()
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 0))
	c.closeWith(ws.StatusCode(4001), "token expired")

	c2 := f.accept(ctx)
	if c2.token() != "tok2" {
		t.Fatalf("token after 4001 %q, want a new one, tok2", c2.token())
	}
	c2.welcome()
	c2.expect(ctx, "subscribe")
}

func TestClientRefreshesTokenBeforeExpiry(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// Tokens that expire in 2 s are refreshed halfway through their life.
	makeToken := `window.makeToken = () => {
		const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
		return b64({alg: 'HS256'}) + '.' + b64({sub: 'u', n: ++calls, exp: Math.floor(Date.now() / 1000) + 2}) + '.sig'; }`
	p := startClient(t, f, makeToken, `{ token: () => window.makeToken() }`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "refresh")
	token, _ := cmd["token"].(string)
	if token == "" || token == c.token() {
		t.Fatalf("refresh %v, want a new token", cmd)
	}
	c.send(map[string]any{"type": "refreshed", "id": cmd["id"]})
	if errs := p.value(`errors.join()`); errs != "" {
		t.Errorf("client reported errors: %s", errs)
	}
}

func TestTokenExpiryReadsTheClaim(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	cases := map[string]string{
		jwt(`{"exp":1764074400}`): "1764074400000",
		jwt(`{"sub":"u"}`):        "null",
		"not-a-jwt":               "null",
	}
	for token, want := range cases {
		if got := p.value(`herald.tokenExpiry('` + token + `')`); got != want {
			t.Errorf("tokenExpiry(%s) = %s, want %s", token, got, want)
		}
	}
}

func TestClientStopsOn4001WithAFixedToken(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ token: 'fixed' }`)
	c := f.accept(ctx)
	if c.token() != "fixed" {
		t.Fatalf("token %q, want fixed", c.token())
	}
	c.welcome()
	c.closeWith(ws.StatusCode(4001), "token expired")
	// A fixed token cannot be renewed: reconnecting would only fail again.
	p.wait(`errors.join() === 'token_expired' && states.at(-1) === 'stopped'`)
	p.run(`new Promise((resolve) => setTimeout(resolve, 300))`) // time for a reconnect that must not come
	select {
	case <-f.conns:
		t.Fatal("client reconnected with an expired fixed token")
	default:
	}
}

// A token function that never settles (its endpoint hangs) is given up
// on after options.timeout: the page hears of it, and the next attempt
// asks again.
func TestClientGivesUpOnATokenFunctionThatHangs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ timeout: 2000, token: () => ++window.calls === 1 ? new Promise(() => {}) : 'tok' + calls }`)
	c := f.accept(ctx)
	if c.token() != "tok2" {
		t.Fatalf("token %q, want tok2 from the second call", c.token())
	}
	c.welcome()
	p.wait(`h.state === 'connected' && errors.join() === 'token'`)
}

// close() while a refresh waits for the token function ends the refresh
// without a word: the page closed the client, nothing failed.
func TestClientClosedDuringARefreshReportsNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The first token expires in 2 s and is refreshed halfway; the refresh's
	// token comes when the test says.
	tokens := `window.makeToken = () => {
		const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
		if (++calls === 1) return b64({alg: 'HS256'}) + '.' + b64({sub: 'u', exp: Math.floor(Date.now() / 1000) + 2}) + '.sig';
		return new Promise((resolve) => { window.release = resolve; }); }`
	p := startClient(t, f, tokens, `{ token: () => window.makeToken() }`)
	f.accept(ctx).welcome()
	p.wait(`window.release !== undefined`)
	p.run(`h.close(); release('new-token')`)
	p.pause(100 * time.Millisecond)
	if errs := p.value(`errors.join()`); errs != "" {
		t.Errorf("client reported errors after close(): %s", errs)
	}
}

// A token function that fails after close() ended the attempt that asked
// it is no error of the closed client, and starts no reconnect: it came
// back 'connecting' on its own, and after a connect() meanwhile ran a
// second chain of attempts beside the new one.
func TestClientClosedWhileAskingForATokenStaysClosed(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ token: () => new Promise((_, reject) => { window.calls++; window.failToken = reject; }) }`)
	p.wait(`window.calls === 1`)
	p.run(`h.close(); failToken(new Error('token endpoint down')); new Promise((resolve) => setTimeout(resolve, 0))`)
	if got := p.value(`errors.join() + ' ' + h.state + ' ' + states.join()`); got != " disconnected connecting,disconnected" {
		t.Errorf("errors, state and states after the token failed behind close(): %q, want none, disconnected, connecting,disconnected", got)
	}
	p.run(`new Promise((resolve) => setTimeout(resolve, 100))`) // past minDelay and maxDelay: a reconnect would have begun
	if got := p.value(`window.calls + ' ' + h.state`); got != "1 disconnected" {
		t.Errorf("token calls and state a while after close(): %q, want 1 disconnected", got)
	}
	p.checkNoProblems()
}

// close() and connect() while a refresh waits for the token function end
// that refresh: the new connection opened with a token of its own and
// refreshes on its own schedule. It went on, and sent the old
// connection's refresh on the new one.
func TestClientClosedAndConnectedDuringARefreshSendsItNot(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The first token expires in 2 s and is refreshed halfway; each
	// refresh's token comes when the test says.
	tokens := `window.releases = []; window.makeToken = () => {
		const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
		if (++calls === 1) return b64({alg: 'HS256'}) + '.' + b64({sub: 'u', exp: Math.floor(Date.now() / 1000) + 2}) + '.sig';
		return new Promise((resolve) => { releases.push(resolve); }); }`
	p := startClient(t, f, tokens, `{ token: () => window.makeToken() }`)
	f.accept(ctx).welcome()
	p.wait(`releases.length === 1`)
	p.run(`h.close(); h.connect()`)
	c := f.accept(ctx)
	c.welcome()
	p.wait(`h.state === 'connected'`)
	p.run(`releases[0]('old-refresh'); new Promise((resolve) => setTimeout(resolve, 0))`)
	p.run(`h.publish('chat.lobby', 1).catch(() => {}), true`)
	c.expect(ctx, "publish") // the next command: no refresh before it
	if errs := p.value(`errors.join()`); errs != "" {
		t.Errorf("client reported errors: %s", errs)
	}
}

// A refresh whose token function answers after a drop, before the next
// connection, gives that connection the new token to open with. It was
// queued as a command for the next connection, which failed it after
// options.timeout: a reconnect slower than that had the page hear an
// error 'timeout' of a refresh never sent, and the new token was lost.
func TestClientDroppedDuringARefreshOpensWithItsToken(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The first token expires in 3 s and is refreshed halfway; the
	// refresh's token comes when the test says; any other call answers
	// 'asked-again'.
	tokens := `window.makeToken = () => {
		const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
		if (++calls === 1) return b64({alg: 'HS256'}) + '.' + b64({sub: 'u', exp: Math.floor(Date.now() / 1000) + 3}) + '.sig';
		if (calls === 2) return new Promise((resolve) => { window.release = resolve; });
		return 'asked-again'; }`
	// The reconnect waits 4 to 8 s, past the 2 s timeout.
	p := startClient(t, f, tokens, `{ token: () => window.makeToken(), timeout: 2000, minDelay: 8000, maxDelay: 8000 }`)
	c := f.accept(ctx)
	c.welcome()
	p.wait(`window.release !== undefined`)
	c.drop()
	p.wait(`h.state === 'disconnected'`)
	p.run(`release('new-refresh'), 0`)
	c2 := f.accept(ctx)
	if got := c2.token() + " " + p.value(`errors.join()`); got != "new-refresh " {
		t.Errorf("the next connection's token and the errors: %q, want new-refresh and none", got)
	}
	c2.welcome()
	p.wait(`h.state === 'connected'`)
	p.checkNoProblems()
}
