package web

import (
	"context"
	"encoding/json"
	"testing"
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
	// timeout: long enough for the test to welcome a connection it took on
	// a busy machine, which the client would otherwise have given up on.
	p := startClient(t, f, "", `{ pingInterval: 100, timeout: 1500 }`)
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

// A subscribe refused for now (a subscribe hook or the backend down) is
// told to the page and tried again after a delay that grows with each
// refusal, not at a fixed pace that keeps a failing backend as busy as
// ever; once live, the next refusal starts from the shortest delay again.
func TestClientBacksOffASubscribeRefusedForNow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	// The delays the client asks timers for, but for the commands' timeouts.
	delays := `window.delays = [];
		const later = window.setTimeout;
		window.setTimeout = (fn, ms, ...args) => { if (ms < 10000) delays.push(ms); return later(fn, ms, ...args); }`
	p := startClient(t, f, delays, `{ minDelay: 20, maxDelay: 60000 }`)
	p.run(`window.topics = []; h.on('error', (e) => topics.push(e.topic));
		window.busy = h.subscribe('busy', (m) => got.push(m.seq))`)
	c := f.accept(ctx)
	c.welcome()
	for i := 0; i < 5; i++ {
		cmd := c.expect(ctx, "subscribe")
		c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "unavailable", "message": "subscribe hook down"})
	}
	// One the node's command rate refused (the client's burst of
	// resubscribes earns those) is retried without a word.
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "rate_limited", "message": "too many commands"})
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 0))
	p.run(`busy.ready`)
	if got := p.value(`errors.join() + ' ' + topics.join()`); got != "unavailable,unavailable,unavailable,unavailable,unavailable busy,busy,busy,busy,busy" {
		t.Errorf("errors and their topics: %s", got)
	}
	if got := p.value(`Math.max(...delays) > 80`); got != "true" {
		t.Errorf("retry delays %s ms: the fifth refusal in a row waits no longer than the first", p.value(`delays.join()`))
	}

	// Live since: after a reconnect, a refusal waits the shortest delay.
	p.run(`delays.length = 0`)
	c.drop()
	c = f.accept(ctx)
	c.welcome()
	cmd = c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "unavailable", "message": "subscribe hook down"})
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 0))
	if got := p.value(`delays.join()`); p.value(`delays.length === 2 && Math.max(...delays) <= 20`) != "true" {
		t.Errorf("delays %s ms after a reconnect and one refusal, want two of at most minDelay", got)
	}
}
