package web

import (
	"net/url"
	"sync/atomic"
	"testing"
)

// A page may close the client from any listener: one that does so in its
// 'error' listener after a failed attempt, or in its 'state' listener
// for the 'disconnected' that announces the retry, has the client stay
// closed, with no retry, no token asked again, no attempt after; one
// that connects again there has one attempt run, not two side by side.

// startListening opens the test page and starts a client there as window.h,
// with listen (JS run with h made, before connect()) adding its listeners,
// and every 'state' event in window.states.
func startListening(t *testing.T, f *fakeHerald, options, listen string) *page {
	t.Helper()
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	p.run(`
		window.states = []; window.calls = 0;
		window.h = new herald.Herald(wsURL, { minDelay: 20, maxDelay: 100, pingInterval: 0, ...` + options + ` });
		h.on('state', (s) => states.push(s));
		` + listen + `;
		h.connect();`)
	return p
}

// waitBackoffs lets the client run for ten times maxDelay: any retry
// it scheduled would have started by then.
func waitBackoffs(p *page) {
	p.t.Helper()
	p.run(`window.waited = false; setTimeout(() => { window.waited = true; }, 1000)`)
	p.wait(`window.waited`)
}

// countRequests makes every request to the fake's /ws, upgrade or plain
// GET, counted, and answered by answer as refuseWith says (nil: upgrade).
func countRequests(f *fakeHerald, answer func(n int64) *refusal) *atomic.Int64 {
	var n atomic.Int64
	f.refuseWith(func(url.Values) *refusal { return answer(n.Add(1)) })
	return &n
}

const failingToken = `{ token: () => { calls++; return Promise.reject(new Error('token endpoint down')); } }`

func TestClientClosedInErrorAfterATokenFailureStaysClosed(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	requests := countRequests(f, func(int64) *refusal { return nil })
	p := startListening(t, f, failingToken, `window.told = [];
		h.on('error', (e) => { told.push(e.code); h.close(); })`)
	p.wait(`told.length > 0`)
	waitBackoffs(p)
	if got := p.value(`told.join() + ' ' + calls + ' ' + h.state + ' ' + states.at(-1)`); got != "token 1 disconnected disconnected" {
		t.Errorf("errors, token calls, state and last state event: %q, want token 1 disconnected disconnected", got)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests to /ws after close(), want 0", n)
	}
}

func TestClientClosedInTheRetrysStateEventStaysClosed(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	requests := countRequests(f, func(int64) *refusal { return nil })
	p := startListening(t, f, failingToken, `window.closedIn = false;
		h.on('state', (s, info) => { if (s === 'disconnected' && info.retryIn !== null) { closedIn = true; h.close(); } })`)
	p.wait(`closedIn`)
	waitBackoffs(p)
	if got := p.value(`calls + ' ' + h.state + ' ' + states.at(-1)`); got != "1 disconnected disconnected" {
		t.Errorf("token calls, state and last state event: %q, want 1 disconnected disconnected", got)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests to /ws after close(), want 0", n)
	}
}

func TestClientClosedInErrorAfterARefusedUpgradeStaysClosed(t *testing.T) {
	t.Parallel()
	for _, no := range []refusal{
		{503, "unavailable", "the server is near its open-file limit"},
		{429, "rate_limited", "too many connections from this address"},
	} {
		t.Run(no.code, func(t *testing.T) {
			t.Parallel()
			f := newFakeHerald(t)
			requests := countRequests(f, func(int64) *refusal { return &no })
			p := startListening(t, f, `{}`, `window.told = [];
				h.on('error', (e) => { told.push(e.code); h.close(); })`)
			p.wait(`told.length > 0`)
			waitBackoffs(p)
			if got := p.value(`told.join() + ' ' + h.state + ' ' + states.at(-1)`); got != no.code+" disconnected disconnected" {
				t.Errorf("errors, state and last state event: %q, want %s disconnected disconnected", got, no.code)
			}
			// The refused upgrade and the GET that asked why.
			if n := requests.Load(); n != 2 {
				t.Errorf("%d requests to /ws, want 2: none after close()", n)
			}
		})
	}
}

func TestClientClosedAndConnectedInErrorMakesOneAttempt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The first upgrade and the GET that asks why are refused; the next
	// upgrades are taken.
	countRequests(f, func(n int64) *refusal {
		if n > 2 {
			return nil
		}
		return &refusal{503, "unavailable", "the server is near its open-file limit"}
	})
	p := startListening(t, f, `{}`, `window.told = [];
		h.on('error', (e) => { told.push(e.code); if (told.length === 1) { h.close(); h.connect(); } })`)
	f.accept(ctx).welcome()
	waitBackoffs(p)
	select {
	case <-f.conns:
		t.Errorf("a second connection was opened beside the one connect() started")
	default:
	}
	if got := p.value(`told.join() + ' ' + h.state`); got != "unavailable connected" {
		t.Errorf("errors and state: %q, want unavailable connected", got)
	}
}

// TestClientClosedAndConnectedInASubscribeRefusalsErrorSubscribesOnce: a
// subscribe refused for now (unavailable) is told to the 'error'
// listeners, then tried again after a delay; a page that closes and
// connects again there has the new connection subscribe once, not once
// more when the old connection's retry comes due.
func TestClientClosedAndConnectedInASubscribeRefusalsErrorSubscribesOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// A retry delay long enough for the new connection to be live by then.
	p := startListening(t, f, `{ minDelay: 400, maxDelay: 400 }`, `window.told = [];
		h.subscribe('busy', () => {});
		h.on('error', (e) => { told.push(e.code); if (told.length === 1) { h.close(); h.connect(); } })`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "unavailable", "message": "subscribe hook down"})
	c2 := f.accept(ctx)
	c2.welcome()
	c2.send(subscribed(c2.expect(ctx, "subscribe"), "e1", 0))
	waitBackoffs(p)
	// The next command after the subscribe must be this publish.
	p.run(`void h.publish('busy', 1).catch(() => {})`)
	if got := c2.expect(ctx, "publish"); got["topic"] != "busy" {
		t.Errorf("publish %v, want one to busy", got)
	}
	if got := p.value(`told.join() + ' ' + h.state`); got != "unavailable connected" {
		t.Errorf("errors and state: %q, want unavailable connected", got)
	}
}

// TestClientClosedInAPresenceRefusalsOnErrorSendsNothing: a first
// subscribe that asked for presence for one of its handles only, refused
// presence_off, tells that handle's onError, then subscribes again
// without presence; a page that closes the client there has nothing sent
// on a socket that is gone (which threw in the page).
func TestClientClosedInAPresenceRefusalsOnErrorSendsNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startListening(t, f, `{}`, `window.told = [];
		h.subscribe('room', () => {});
		h.subscribe('room', () => {}, { onPresence: () => {}, onError: (e) => { told.push(e.code); h.close(); } })`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "presence_off", "message": "no presence on room"})
	p.wait(`told.length > 0`)
	if got := p.value(`told.join() + ' ' + h.state`); got != "presence_off disconnected" {
		t.Errorf("errors and state: %q, want presence_off disconnected", got)
	}
	p.checkNoProblems()
}

// TestClientClosedAndConnectedInARefusalsOnErrorKeepsItFailed: a
// subscribe refused for good is kept for a subscription the server makes
// of its pattern on that connection to take up; a page that closes and
// connects again in its onError has a server subscription on the new
// connection be a new one ('subscribed'), the refused handle failed.
func TestClientClosedAndConnectedInARefusalsOnErrorKeepsItFailed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startListening(t, f, `{}`, `window.told = []; window.made = [];
		h.on('subscribed', (r) => made.push(r.topic));
		window.notices = h.subscribe('notices', () => {}, { onError: (e) => { told.push(e.code); h.close(); h.connect(); } })`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "forbidden", "message": "not yours"})
	c2 := f.accept(ctx)
	c2.welcome()
	c2.send(map[string]any{"type": "subscribed", "topic": "notices", "epoch": "e1", "seq": 3, "server": true})
	p.wait(`made.length > 0`)
	if got := p.value(`told.join() + ' ' + notices.state + ' ' + made.join()`); got != "forbidden failed notices" {
		t.Errorf("errors, the refused handle's state and server subscriptions told: %q, want forbidden failed notices", got)
	}
}

// TestClientClosedInAStateListenerIsLastHeardDisconnected: a 'state'
// listener that closes the client has the listeners after it hear the
// 'disconnected' of the close last, not the state it closed in after it
// (a page would show a closed client connected).
func TestClientClosedInAStateListenerIsLastHeardDisconnected(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	p.run(`window.heard = [];
		window.h = new herald.Herald(wsURL, { minDelay: 20, maxDelay: 100, pingInterval: 0 });
		h.on('state', (s) => { if (s === 'connected') h.close(); });
		h.on('state', (s) => heard.push(s));
		h.connect();`)
	f.accept(ctx).welcome()
	p.wait(`h.state === 'disconnected'`)
	if got := p.value(`h.state + ' ' + heard.at(-1)`); got != "disconnected disconnected" {
		t.Errorf("state and the last state the second listener heard: %q, want disconnected disconnected (heard %s)", got, p.value(`heard.join()`))
	}
}

// TestClientClosedInOnRecoveryFailedAsksNoPresence: a resume answered
// recovered:false tells onRecoveryFailed, then asks the member list
// again; a page that closes the client there has none asked of the
// closed client, whose refusal ('closed') its onError would hear.
func TestClientClosedInOnRecoveryFailedAsksNoPresence(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startListening(t, f, `{}`, `window.told = []; window.lists = []; window.lost = 0;
		h.subscribe('room', () => {}, { onPresence: (l) => lists.push(l.users), onError: (e) => told.push(e.code),
			onRecoveryFailed: () => { lost++; h.close(); } })`)
	c := f.accept(ctx)
	c.welcome()
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 3))
	ask := c.expect(ctx, "presence")
	c.send(map[string]any{"type": "presence", "id": ask["id"], "topic": "room", "users": 0, "sessions": 0, "members": []any{}})
	p.wait(`lists.length === 1`)
	c.drop()
	c2 := f.accept(ctx)
	c2.welcome()
	c2.send(subscribed(c2.expect(ctx, "subscribe"), "e1", 9, false))
	p.wait(`lost === 1`)
	waitBackoffs(p)
	if got := p.value(`'[' + told.join() + '] ' + lists.join() + ' ' + h.state`); got != "[] 0 disconnected" {
		t.Errorf("errors, member lists and state: %q, want [] 0 disconnected", got)
	}
}

// TestClientClosedInOnRecoveryFailedOfATakenUpSubscriptionDeliversNothing:
// a resume refused while the server made the same subscription on the
// connection takes that one up, and onRecoveryFailed tells what the page
// missed; a page that closes the client there gets none of what the
// client held of the topic meanwhile (a pattern's message, held for the
// resume), which went on to be delivered on the closed client.
func TestClientClosedInOnRecoveryFailedOfATakenUpSubscriptionDeliversNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startListening(t, f, `{}`, `window.got = []; window.pats = []; window.lost = 0;
		h.subscribe('news.alerts', (m) => got.push(m.seq), { onRecoveryFailed: () => { lost++; h.close(); } });
		h.subscribe('news.*', (m) => pats.push(m.seq))`)
	inEpoch := func(m map[string]any) map[string]any { m["epoch"] = "e1"; return m }
	c := f.accept(ctx)
	c.welcome()
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 1))
	c.send(map[string]any{"type": "subscribed", "id": c.expect(ctx, "subscribe")["id"], "topic": "news.*"})
	c.send(inEpoch(message("news.alerts", 2, "first")))
	p.wait(`got.join() === '2'`)
	c.drop()

	c2 := f.accept(ctx)
	c2.welcome()
	resume := c2.expect(ctx, "subscribe")
	c2.send(map[string]any{"type": "subscribed", "id": c2.expect(ctx, "subscribe")["id"], "topic": "news.*"})
	c2.send(map[string]any{"type": "subscribed", "topic": "news.alerts", "epoch": "e1", "seq": 5, "server": true})
	held := inEpoch(message("news.alerts", 6, "held"))
	held["pattern"] = "news.*"
	c2.send(held)
	p.wait(`pats.includes(6)`)
	c2.send(map[string]any{"type": "error", "id": resume["id"], "code": "forbidden", "message": "not for you"})
	p.wait(`lost === 1`)
	if got := p.value(`got.join() + ' ' + h.state`); got != "2 disconnected" {
		t.Errorf("seqs delivered and state: %q, want 2 disconnected (nothing after close())", got)
	}
	p.checkNoProblems()
}
