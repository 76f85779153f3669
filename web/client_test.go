package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// startClient opens the test page and starts a Herald client there as
// window.h, subscribed to the given topics; every message's seq lands in
// window.got, every onRecoveryFailed in window.lost. setup is JS run first;
// options is a JS object literal merged into the client's options.
func startClient(t *testing.T, f *fakeHerald, setup, options string, topics ...string) *page {
	t.Helper()
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	quoted, _ := json.Marshal(append([]string{}, topics...))
	p.run(`
		window.got = []; window.lost = []; window.states = []; window.errors = []; window.calls = 0;
		` + setup + `;
		window.h = new herald.Herald(wsURL, { minDelay: 20, maxDelay: 100, pingInterval: 0, ...` + options + ` });
		h.on('state', (s) => states.push(s));
		h.on('error', (e) => errors.push(e.code));
		for (const topic of ` + string(quoted) + `) {
			h.subscribe(topic, (m) => got.push(m.seq), { onRecoveryFailed: (info) => lost.push(info) });
		}
		h.connect();`)
	return p
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	return ctx
}

// subscribed answers a subscribe command for an exact topic.
func subscribed(cmd map[string]any, epoch string, seq int, recovered ...bool) map[string]any {
	reply := map[string]any{"type": "subscribed", "id": cmd["id"], "topic": cmd["topic"], "epoch": epoch, "seq": seq}
	if len(recovered) > 0 {
		reply["recovered"] = recovered[0]
	}
	return reply
}

func TestClientSubscribesAndReceives(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.lobby")

	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	if cmd["topic"] != "chat.lobby" || cmd["since"] != nil {
		t.Fatalf("first subscribe %v, want chat.lobby without since", cmd)
	}
	c.send(subscribed(cmd, "e1", 3))
	c.send(message("chat.lobby", 4, map[string]any{"text": "a"}))
	c.send(message("chat.other", 9, nil)) // not subscribed: not shown
	c.send(message("chat.lobby", 5, map[string]any{"text": "b"}))
	p.wait(`got.join() === '4,5'`)
	if got := p.value(`states.join()`); got != "connecting,connected" {
		t.Errorf("states %q, want connecting,connected", got)
	}
}

func TestClientPublishSettles(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	c := f.accept(ctx)
	c.welcome()

	p.run(`void h.publish('chat.lobby', {text: 'hi'}).then((r) => window.ok = r, (e) => window.fail = e)`)
	cmd := c.expect(ctx, "publish")
	if data, _ := cmd["data"].(map[string]any); cmd["topic"] != "chat.lobby" || data["text"] != "hi" || cmd["id"] == "" {
		t.Fatalf("publish command %v", cmd)
	}
	c.send(map[string]any{"type": "published", "id": cmd["id"], "topic": "chat.lobby", "seq": 42, "msg": "m42"})
	p.wait(`window.ok && ok.seq === 42 && ok.msg === 'm42' && !window.fail`)

	p.run(`void h.publish('chat.lobby', 1).then((r) => window.ok2 = r, (e) => window.fail2 = e)`)
	cmd = c.expect(ctx, "publish")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "forbidden", "message": "not yours"})
	p.wait(`window.fail2 instanceof herald.HeraldError && fail2.code === 'forbidden' && fail2.message === 'not yours'`)

	// A publish in flight when the connection drops is rejected, not retried.
	p.run(`void h.publish('chat.lobby', 2).then((r) => window.ok3 = r, (e) => window.fail3 = e)`)
	c.expect(ctx, "publish")
	c.drop()
	p.wait(`window.fail3 && fail3.code === 'disconnected'`)
	c2 := f.accept(ctx)
	c2.welcome()
	p.run(`void h.publish('chat.lobby', 3).then((r) => window.ok4 = r)`)
	cmd = c2.expect(ctx, "publish") // the next command: the dropped one was not resent
	if cmd["data"] != float64(3) {
		t.Fatalf("after reconnect the client sent %v, want only the new publish", cmd)
	}
}

func TestClientResumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.lobby")

	c := f.acceptSubscribed(ctx, "e1", 0)
	for seq := 1; seq <= 3; seq++ {
		c.send(message("chat.lobby", seq, seq))
	}
	p.wait(`got.join() === '1,2,3'`)
	c.drop()

	c2 := f.accept(ctx)
	c2.welcome()
	cmd := c2.expect(ctx, "subscribe")
	since, _ := cmd["since"].(map[string]any)
	if since["epoch"] != "e1" || since["seq"] != float64(3) {
		t.Fatalf("resubscribe %v, want since {e1, 3}", cmd)
	}
	c2.send(subscribed(cmd, "e1", 5, true))
	for _, seq := range []int{3, 4, 5, 5, 6} { // 3 and the second 5 were seen already
		c2.send(message("chat.lobby", seq, seq))
	}
	p.wait(`got.join() === '1,2,3,4,5,6'`)
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("onRecoveryFailed called %s times on a recovered resume", n)
	}
	if got := p.value(`states.join()`); !strings.HasPrefix(got, "connecting,connected,disconnected,connecting,connected") {
		t.Errorf("states %q", got)
	}
}

func TestClientReportsFailedRecovery(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.lobby", "chat.*")

	c := f.acceptSubscribed(ctx, "e1", 10)
	pattern := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "subscribed", "id": pattern["id"], "topic": "chat.*"})
	c.send(message("chat.lobby", 11, nil))
	p.wait(`got.join() === '11,11'`) // once per matching subscription
	c.closeWith(ws.StatusCode(4000), "slow consumer")

	c2 := f.accept(ctx)
	c2.welcome()
	exact := c2.expect(ctx, "subscribe")
	if since, _ := exact["since"].(map[string]any); since["seq"] != float64(11) {
		t.Fatalf("resubscribe %v, want since seq 11", exact)
	}
	pattern = c2.expect(ctx, "subscribe")
	if pattern["since"] != nil {
		t.Fatalf("pattern resubscribed with since: %v", pattern)
	}
	c2.send(subscribed(exact, "e2", 4, false)) // history started over
	c2.send(map[string]any{"type": "subscribed", "id": pattern["id"], "topic": "chat.*"})
	c2.send(message("chat.lobby", 5, nil))
	p.wait(`got.join() === '11,11,5,5' && lost.length === 2`)
	var lost []struct {
		Topic string
		Epoch string
		Since *struct {
			Epoch string
			Seq   int
		}
	}
	if err := json.Unmarshal([]byte(p.value(`JSON.stringify(lost)`)), &lost); err != nil {
		t.Fatal(err)
	}
	if lost[0].Topic != "chat.lobby" || lost[0].Epoch != "e2" || lost[0].Since == nil || lost[0].Since.Epoch != "e1" || lost[0].Since.Seq != 11 {
		t.Errorf("exact topic's report %+v", lost[0])
	}
	if lost[1].Topic != "chat.*" || lost[1].Since != nil {
		t.Errorf("pattern's report %+v", lost[1])
	}
}

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

func TestClientUnsubscribesWhenTheLastCallbackGoes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	p.run(`window.first = h.subscribe('chat.lobby', (m) => got.push(m.seq));
		window.second = h.subscribe('chat.lobby', (m) => got.push(-m.seq))`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe") // one subscribe for both callbacks
	c.send(subscribed(cmd, "e1", 0))
	c.send(message("chat.lobby", 1, nil))
	p.wait(`got.join() === '1,-1'`)

	p.run(`void second.unsubscribe()`)
	c.send(message("chat.lobby", 2, nil))
	p.wait(`got.join() === '1,-1,2'`)
	p.run(`void first.unsubscribe().then(() => window.unsubscribed = true)`)
	cmd = c.expect(ctx, "unsubscribe")
	if cmd["topic"] != "chat.lobby" {
		t.Fatalf("unsubscribe %v, want chat.lobby", cmd)
	}
	c.send(map[string]any{"type": "unsubscribed", "id": cmd["id"], "topic": "chat.lobby"})
	p.wait(`window.unsubscribed === true`)
	c.send(message("chat.lobby", 3, nil)) // in flight before the unsubscribe: ignored
	p.run(`new Promise((resolve) => setTimeout(resolve, 50))`)
	if got := p.value(`got.join()`); got != "1,-1,2" {
		t.Errorf("got %s after unsubscribing, want 1,-1,2", got)
	}
}

func TestClientAbandonsASilentLink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ pingInterval: 50, timeout: 200 }`)
	p.run(`h.on('state', (s, info) => { if (s === 'disconnected') window.reasons = (window.reasons || []).concat(info.reason); })`)
	f.accept(ctx) // no welcome: the client gives up on it
	c := f.accept(ctx)
	c.welcome()
	c.expect(ctx, "ping") // and never answer it
	c2 := f.accept(ctx)
	c2.welcome()
	ping := c2.expect(ctx, "ping")
	c2.send(map[string]any{"type": "pong", "id": ping["id"]})
	p.wait(`String(window.reasons) === 'no welcome in time,ping timeout'`)
}

func TestClientRefusesCommandsBeforeConnect(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	got := p.value(`new herald.Herald(wsURL).publish('a', 1).then(() => 'resolved', (e) => e.code)`)
	if got != "closed" {
		t.Errorf("publish before connect: %s, want closed", got)
	}
}

func TestClientSubscribeRefusedAndRetried(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	p.run(`window.refused = [];
		window.addEventListener('error', (e) => { window.reported = e.message; });
		h.subscribe('secret', () => {}, { onError: (e) => refused.push('onError:' + e.code) })
			.ready.catch((e) => refused.push('ready:' + e.code));
		h.subscribe('busy', (m) => got.push(m.seq)).ready.then((r) => window.busyReady = r.topic);
		h.subscribe('busy', () => { throw new Error('an app bug'); });
		h.subscribe('busy', (m) => got.push(-m.seq));`)
	c := f.accept(ctx)
	c.welcome()
	secret := c.expect(ctx, "subscribe")
	busy := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": secret["id"], "code": "forbidden", "message": "no"})
	c.send(map[string]any{"type": "error", "id": busy["id"], "code": "unavailable", "message": "backend down"})
	p.wait(`refused.sort().join() === 'onError:forbidden,ready:forbidden'`)

	retry := c.expect(ctx, "subscribe") // unavailable: tried again; forbidden: not
	if retry["topic"] != "busy" {
		t.Fatalf("retried %v, want busy", retry)
	}
	c.send(subscribed(retry, "e1", 0))
	c.send(message("busy", 1, nil))
	// The callback that throws stops neither the client nor the others, and
	// its error is reported as uncaught.
	p.wait(`window.busyReady === 'busy' && got.join() === '1,-1' && String(window.reported).includes('an app bug')`)
}

func TestClientCloseAndConnectAgain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ minDelay: 60000, maxDelay: 60000 }`, "chat.lobby")
	c := f.acceptSubscribed(ctx, "e1", 7)

	// Offline: a publish waits for a connection; close() rejects it and
	// no reconnect follows.
	c.drop()
	p.wait(`h.state === 'disconnected'`)
	p.run(`void h.publish('chat.lobby', 1).catch((e) => window.closedErr = e.code);
		h.on('state', (s, info) => { if (s === 'disconnected') window.finalRetry = info.retryIn; });
		h.close()`)
	p.wait(`window.closedErr === 'closed' && window.finalRetry === null`)

	// connect() after close() resumes where the subscription was.
	p.run(`h.connect()`)
	c2 := f.accept(ctx)
	c2.welcome()
	cmd := c2.expect(ctx, "subscribe")
	if since, _ := cmd["since"].(map[string]any); since["epoch"] != "e1" || since["seq"] != float64(7) {
		t.Fatalf("subscribe after connect() %v, want since {e1, 7}", cmd)
	}

	// Back online: no waiting out a minute of backoff.
	c2.drop()
	p.wait(`h.state === 'disconnected'`)
	p.run(`window.dispatchEvent(new Event('online'))`)
	c3 := f.accept(ctx)
	c3.welcome()
	c3.expect(ctx, "subscribe")
}

// Messages carry no epoch: seq 1 arriving again is a history that started
// over (Redis lost its data) unless it is the same message, and is shown.
func TestClientShowsANewEpochsFirstMessage(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.lobby")

	c := f.acceptSubscribed(ctx, "e1", 0)
	first := message("chat.lobby", 1, "old")
	c.send(first)
	c.send(first) // the same message again: a duplicate
	again := message("chat.lobby", 1, "new")
	again["msg"] = "m-new-epoch-1"
	c.send(again)
	c.send(message("chat.lobby", 2, "new"))
	// A round trip behind them: once its reply is in, so are they.
	p.run(`void h.publish('chat.lobby', 'flush').then(() => window.flushed = true)`)
	c.send(map[string]any{"type": "published", "id": c.expect(ctx, "publish")["id"], "topic": "chat.lobby", "epoch": "e2", "seq": 3, "msg": "m3"})
	p.wait(`window.flushed === true`)
	if got := p.value(`got.join()`); got != "1,1,2" {
		t.Errorf("seqs shown %s, want 1,1,2 (the old and the new epoch's first message, then 2; the duplicate once)", got)
	}
}

// After a reconnect the exact subscriptions resubscribe before the
// patterns, whatever order they were made in: the server runs a
// connection's commands in order, so an exact topic's resume sends what it
// missed before a pattern that covers it goes live and delivers newer ones.
func TestClientResumesExactTopicsBeforePatterns(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.*", "chat.lobby")

	c := f.accept(ctx)
	c.welcome()
	for range 2 {
		cmd := c.expect(ctx, "subscribe")
		if cmd["topic"] == "chat.*" {
			c.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.*"})
		} else {
			c.send(subscribed(cmd, "e1", 0))
		}
	}
	c.send(message("chat.lobby", 1, 1))
	p.wait(`got.join() === '1,1'`) // both subscriptions match
	c.drop()

	c2 := f.accept(ctx)
	c2.welcome()
	first, second := c2.expect(ctx, "subscribe"), c2.expect(ctx, "subscribe")
	if since, _ := first["since"].(map[string]any); first["topic"] != "chat.lobby" || since["seq"] != float64(1) {
		t.Fatalf("first resubscribe %v, want chat.lobby since seq 1", first)
	}
	if second["topic"] != "chat.*" {
		t.Fatalf("second resubscribe %v, want chat.*", second)
	}
}
