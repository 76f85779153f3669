package web

import (
	"net/url"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/chromedp/chromedp"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

var jwtSecret = []byte("web-tests-secret-of-enough-length")

// startGuardedNode runs a real in-memory node that wants HS256 client
// tokens signed with jwtSecret and accepts only the listed origins (any,
// when none), serving Handler.
func startGuardedNode(t *testing.T, origins ...string) string {
	t.Helper()
	v, err := auth.New(auth.Config{Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "guarded-node",
		Tokens: v,
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler(), AllowedOrigins: origins},
	}})
	return n.Base
}

// signedToken signs a client token for jwtSecret that expires after ttl
// (in the past when negative) and allows everything.
func signedToken(t *testing.T, ttl time.Duration) string {
	t.Helper()
	claims := jwtlib.MapClaims{"sub": "u1", "exp": time.Now().Add(ttl).Unix(),
		"allow": map[string]any{"subscribe": []string{">"}, "publish": []string{">"}}}
	s, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// watchClient starts window.h on the page for url with options (a JS
// object literal), recording states in window.states and errors as
// "status code: message" in window.errors.
func watchClient(p *page, url, options string) {
	p.run(`import('/herald.js').then((herald) => {
		window.states = []; window.errors = []; window.calls = 0;
		window.h = new herald.Herald('` + url + `', { minDelay: 20, maxDelay: 100, pingInterval: 0, ...` + options + ` });
		h.on('state', (s, info) => states.push(s === 'stopped' ? 'stopped:' + info.error?.code : s));
		h.on('error', (e) => errors.push(e.status + ' ' + e.code + ': ' + e.message));
		h.connect();
	})`)
}

// pause lets the page run for d: time for a retry that must not come.
func (p *page) pause(d time.Duration) {
	p.run(`new Promise((resolve) => setTimeout(resolve, ` + itoa(int(d/time.Millisecond)) + `))`)
}

// An expired token is refused with 401 before the upgrade; the app hears
// the server's code and message, and a fixed token is not tried again.
func TestClientReportsARefusedToken(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/", "document.readyState === 'complete'")
	watchClient(p, "/ws", `{ token: '`+signedToken(t, -time.Minute)+`' }`)
	p.wait(`states.at(-1) === 'stopped:unauthorized'`)
	p.pause(300 * time.Millisecond)
	if got := p.value(`errors.join('|')`); got != "401 unauthorized: token expired" {
		t.Errorf("errors %q, want the server's 401 unauthorized: token expired, once", got)
	}
	if got := p.value(`states.join()`); got != "connecting,stopped:unauthorized" {
		t.Errorf("states %q", got)
	}
	// A good token, given with setToken, connects on the next connect().
	p.run(`h.setToken('` + signedToken(t, time.Hour) + `'); h.connect()`)
	p.wait(`h.state === 'connected'`)
}

// A refused origin is final: one attempt, one error, no retry loop.
func TestClientStopsOnAForbiddenOrigin(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t, "https://app.example")
	// The page comes from another origin than the node's (a same-origin
	// GET carries no Origin, so only a page of another origin is refused),
	// which the node does not allow.
	other := strings.Replace(base, "127.0.0.1", "localhost", 1)
	p := newPage(t, other+"/", "document.readyState === 'complete'")
	watchClient(p, base+"/ws", `{ token: () => { calls++; return '`+signedToken(t, time.Hour)+`'; } }`)
	p.wait(`states.at(-1) === 'stopped:forbidden'`)
	p.pause(500 * time.Millisecond)
	got := p.value(`errors.join('|')`)
	if !strings.HasPrefix(got, "403 forbidden: origin ") || strings.Contains(got, "|") {
		t.Errorf("errors %q, want one 403 forbidden naming the origin", got)
	}
	if calls := p.value(`calls`); calls != "1" {
		t.Errorf("token function called %s times, want 1: nothing was retried", calls)
	}
}

// Over SSE too: a page of an origin the node does not allow cannot read
// the stream's 403 (section 10 names only allowed origins), so the client
// asks /ws, whose refusals any page may read, and stops as it would there.
func TestClientOverSSEStopsOnAForbiddenOrigin(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t, "https://app.example")
	other := strings.Replace(base, "127.0.0.1", "localhost", 1)
	p := newPage(t, other+"/", "document.readyState === 'complete'")
	p.run(`import('/herald.js').then((herald) => {
		window.states = []; window.errors = [];
		window.h = new herald.Herald('` + base + `/ws', { transport: 'sse', minDelay: 20, maxDelay: 100, token: '` + signedToken(t, time.Hour) + `' });
		h.on('state', (s, info) => states.push(s === 'stopped' ? 'stopped:' + info.error?.code : s));
		h.on('error', (e) => errors.push(e.status + ' ' + e.code + ': ' + e.message));
		h.subscribe('news', () => {});
		h.connect();
	})`)
	p.wait(`states.at(-1) === 'stopped:forbidden'`)
	p.pause(500 * time.Millisecond)
	if got := p.value(`errors.join('|')`); !strings.HasPrefix(got, "403 forbidden: origin ") || strings.Contains(got, "|") {
		t.Errorf("errors %q, want one 403 forbidden naming the origin", got)
	}
}

// On unauthorized the token function is asked again; the new token
// connects. A function whose tokens stay refused stops the client after
// the second refusal.
func TestClientAsksForANewTokenWhenRefused(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	f.refuseWith(func(q url.Values) *refusal {
		if q.Get("token") == "tok2" {
			return nil
		}
		return &refusal{401, "unauthorized", "token expired"}
	})
	p := startClient(t, f, "", `{ token: async () => 'tok' + (++window.calls) }`, "chat.lobby")
	c := f.accept(ctx)
	if c.token() != "tok2" {
		t.Fatalf("connected with %q, want tok2", c.token())
	}
	c.welcome()
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 0))
	p.wait(`h.state === 'connected' && errors.join() === 'unauthorized'`)
	if asked := f.askedTokens(); len(asked) != 1 || asked[0] != "tok1" {
		t.Errorf("plain GETs of /ws with tokens %q, want just tok1", asked)
	}

	f.refuseWith(func(url.Values) *refusal { return &refusal{401, "unauthorized", "bad signature"} })
	c.drop()
	p.wait(`h.state === 'stopped'`)
	if got := p.value(`calls + " " + errors.join()`); got != "3 unauthorized,unauthorized,unauthorized" {
		t.Errorf("token calls and errors %q, want a third token asked for once, refused twice", got)
	}
}

// A refusal that waiting cures (429, 503) is retried, not final.
func TestClientRetriesARateLimitRefusal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	f.refuseWith(func(url.Values) *refusal { return &refusal{429, "rate_limited", "too many connections"} })
	p := startClient(t, f, "", "{}")
	p.wait(`errors.length >= 2`)
	f.refuseWith(nil)
	f.accept(ctx).welcome()
	p.wait(`h.state === 'connected'`)
}

// The dashboard's live tail shows why the node refused it, and stops.
func TestDashboardTailShowsARefusal(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/", `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))
	p.do(chromedp.SetValue("#tail-pattern", "chat.>"), chromedp.SetValue("#tail-token", signedToken(t, -time.Minute)),
		chromedp.Click("#tail-start"))
	p.wait(`[...document.querySelectorAll('#tail li.notice')].some((li) => li.textContent === 'Refused by the node (401 unauthorized): token expired')`)
	p.wait(`document.getElementById('tail-state').textContent === 'stopped' && document.getElementById('tail-stop').disabled`)
	p.checkNoProblems()
}

// A node refuses a connection from an address at its limit as it is
// accepted, before reading the request: the WebSocket and the plain GET
// that asks why alike. A page of another origin reads that 429 too, and
// its client says why it cannot connect.
func TestClientReportsAnAddressAtItsLimitAcrossOrigins(t *testing.T) {
	t.Parallel()
	conns, err := limits.NewConnLimiter(limits.ConnConfig{MaxOpen: 3, Rate: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "limited-node",
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler(), Conns: conns},
	}})
	other := strings.Replace(n.Base, "127.0.0.1", "localhost", 1)
	p := newPage(t, other+"/herald.js", "true")
	p.run(`import('/herald.js').then((herald) => {
		window.errors = [];
		window.hs = Array.from({ length: 4 }, () => {
			const h = new herald.Herald('` + n.WS + `', { transport: 'websocket', minDelay: 200, maxDelay: 400, pingInterval: 0 });
			h.on('error', (e) => errors.push(e.status + ' ' + e.code + ': ' + e.message));
			h.connect();
			return h;
		});
	})`)
	p.wait(`errors.includes('429 rate_limited: too many connections from this address')`)
	p.run(`hs.forEach((h) => h.close())`)
}
