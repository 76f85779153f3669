package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// herald.js resuming after a reconnect: without a gap or a duplicate,
// recovery failures reported, a new epoch's first message shown, exact
// topics resubscribed before patterns.

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

// A resume of more than the node's queue holds comes in pieces, each
// closed with 4000 behind the messages that fit (docs/protocol.md
// section 2): the client resumes from the last one each time without
// waiting longer and longer, as it would after connections that brought
// nothing.
func TestClientCatchesUpThroughSlowConsumerClosesWithoutGrowingItsBackoff(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, `window.retries = []`, `{ minDelay: 20, maxDelay: 60000 }`, "chat.lobby")
	p.run(`h.on('state', (s, info) => { if (s === 'disconnected') retries.push(info.retryIn); })`)
	c := f.acceptSubscribed(ctx, "e1", 0)
	for seq := 1; seq <= 6; seq++ {
		c.send(message("chat.lobby", seq, seq))
		p.wait(`got.length === ` + itoa(seq))
		c.closeWith(ws.StatusCode(4000), "slow consumer")
		c = f.accept(ctx)
		c.welcome()
		cmd := c.expect(ctx, "subscribe")
		if since, _ := cmd["since"].(map[string]any); since["seq"] != float64(seq) {
			t.Fatalf("resume %v, want since seq %d", cmd, seq)
		}
		c.send(subscribed(cmd, "e1", 10, true))
	}
	if got := p.value(`retries.filter((ms) => ms > 20).join()`); got != "" {
		t.Errorf("reconnect delays over minDelay after 4000s that brought messages: %s ms", got)
	}
	// One that brought nothing is no progress: the backoff grows.
	for i := 0; i < 3; i++ {
		c.closeWith(ws.StatusCode(4000), "slow consumer")
		c = f.accept(ctx)
		c.welcome()
		c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 10, true))
	}
	if got := p.value(`retries.slice(-3).some((ms) => ms > 20)`); got != "true" {
		t.Errorf("reconnect delays %s after 4000s that brought nothing, want some over minDelay", p.value(`retries.join()`))
	}
}
