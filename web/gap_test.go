package web

import (
	"encoding/json"
	"regexp"
	"testing"
)

// epochMessage is a message frame as servers since protocol 1.1 send it.
func epochMessage(topic, epoch string, seq int) map[string]any {
	m := message(topic, seq, seq)
	m["epoch"] = epoch
	return m
}

func gap(topic, epoch string, from, to int) map[string]any {
	return map[string]any{"type": "gap", "topic": topic, "epoch": epoch, "from": from, "to": to}
}

// gapInfo is what onGap was called with.
type gapInfo struct {
	Type, Topic, Epoch, Pattern string
	From, To                    int
}

// gapsOf reads the page's window.gaps[name].
func gapsOf(t *testing.T, p *page, name string) []gapInfo {
	t.Helper()
	var gaps []gapInfo
	if err := json.Unmarshal([]byte(p.value(`JSON.stringify(gaps['`+name+`'] || [])`)), &gaps); err != nil {
		t.Fatal(err)
	}
	return gaps
}

// subscribeWithGaps subscribes the page's client to pattern, recording its
// messages' seqs in got and its gaps in gaps[pattern].
const subscribeWithGaps = `window.gaps = {};
	window.sub = (pattern) => h.subscribe(pattern, (m) => got.push(m.seq),
		{ onGap: (g) => (gaps[pattern] = gaps[pattern] || []).push(g) });`

func TestClientReportsAGapAndResumesAfterIt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, subscribeWithGaps, "{}")
	p.run(`sub('chat.lobby')`)
	c := f.acceptSubscribed(ctx, "e7f3", 10)
	c.send(epochMessage("chat.lobby", "e7f3", 11))
	c.send(gap("chat.lobby", "e7f3", 12, 210))
	c.send(epochMessage("chat.lobby", "e7f3", 211))
	c.send(gap("chat.lobby", "e7f3", 100, 150)) // all seen: nothing to tell
	c.send(gap("chat.lobby", "e7f3", 205, 212)) // told from 212, the first not seen
	p.wait(`got.join() === '11,211' && (gaps['chat.lobby'] || []).length === 2`)
	got := gapsOf(t, p, "chat.lobby")
	want := []gapInfo{
		{Type: "gap", Topic: "chat.lobby", Epoch: "e7f3", From: 12, To: 210},
		{Type: "gap", Topic: "chat.lobby", Epoch: "e7f3", From: 212, To: 212},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("onGap got %+v, want %+v", got, want)
	}

	c.drop()
	c2 := f.accept(ctx)
	c2.welcome()
	cmd := c2.expect(ctx, "subscribe")
	if since, _ := cmd["since"].(map[string]any); since["epoch"] != "e7f3" || since["seq"] != float64(212) {
		t.Fatalf("resubscribe %v, want since {e7f3, 212}: after the gap", cmd)
	}
}

func TestClientReportsAPatternsGap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, subscribeWithGaps, "{}")
	p.run(`sub('chat.*')`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.*"})
	g := gap("chat.room", "e1", 3, 4)
	g["pattern"] = "chat.*"
	c.send(g)
	c.send(gap("news.today", "e1", 1, 9)) // matches no subscription
	c.send(epochMessage("chat.room", "e1", 5))
	p.wait(`got.join() === '5'`)
	want := gapInfo{Type: "gap", Topic: "chat.room", Epoch: "e1", Pattern: "chat.*", From: 3, To: 4}
	if got := gapsOf(t, p, "chat.*"); len(got) != 1 || got[0] != want {
		t.Fatalf("onGap got %+v, want %+v", got, want)
	}
}

// A pattern's onGap is told of each lost seq once. Gaps are the node's
// own finding: after a reconnect the node the client reaches (another of
// the cluster, or one whose history stream lost the same messages) may
// tell it of a range it was told of already, or of messages its patterns
// got; only the rest is new.
func TestClientTellsAPatternOfEachLostSeqOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, subscribeWithGaps, "{}")
	p.run(`sub('chat.*')`)
	tagged := func(m map[string]any) map[string]any { m["pattern"] = "chat.*"; return m }
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.*"})
	c.send(tagged(epochMessage("chat.room", "e1", 1)))
	c.send(tagged(gap("chat.room", "e1", 2, 3)))
	p.wait(`got.join() === '1' && (gaps['chat.*'] || []).length === 1`)
	c.drop()

	c2 := f.accept(ctx)
	c2.welcome()
	cmd = c2.expect(ctx, "subscribe")
	c2.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.*"})
	c2.send(tagged(gap("chat.room", "e1", 2, 5))) // told from 4
	c2.send(tagged(gap("chat.room", "e1", 1, 5))) // all got or told
	c2.send(tagged(epochMessage("chat.room", "e1", 7)))
	c2.send(tagged(gap("chat.room", "e1", 5, 8))) // told of 6 and of 8
	c2.send(tagged(epochMessage("chat.room", "e1", 9)))
	p.wait(`got.join() === '1,7,9'`)
	got := gapsOf(t, p, "chat.*")
	want := []gapInfo{
		{Type: "gap", Topic: "chat.room", Epoch: "e1", Pattern: "chat.*", From: 2, To: 3},
		{Type: "gap", Topic: "chat.room", Epoch: "e1", Pattern: "chat.*", From: 4, To: 5},
		{Type: "gap", Topic: "chat.room", Epoch: "e1", Pattern: "chat.*", From: 6, To: 6},
		{Type: "gap", Topic: "chat.room", Epoch: "e1", Pattern: "chat.*", From: 8, To: 8},
	}
	if len(got) != len(want) {
		t.Fatalf("onGap got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("onGap got %+v, want %+v", got, want)
		}
	}
}

// Since protocol 1.1 a message carries its epoch: a new one is shown
// whatever its seq, and a resume asks for it.
func TestClientSeesANewEpochOnTheMessage(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "chat.lobby")
	c := f.acceptSubscribed(ctx, "e1", 0)
	for seq := 1; seq <= 3; seq++ {
		c.send(epochMessage("chat.lobby", "e1", seq))
	}
	c.send(epochMessage("chat.lobby", "e2", 2)) // e2's first message came before the resume
	c.send(epochMessage("chat.lobby", "e2", 2)) // a duplicate
	c.send(epochMessage("chat.lobby", "e2", 3))
	p.wait(`got.join() === '1,2,3,2,3'`)
	c.drop()
	c2 := f.accept(ctx)
	c2.welcome()
	cmd := c2.expect(ctx, "subscribe")
	if since, _ := cmd["since"].(map[string]any); since["epoch"] != "e2" || since["seq"] != float64(3) {
		t.Fatalf("resubscribe %v, want since {e2, 3}", cmd)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A publish carries an idempotency_key, so that the app can send it again
// after a 'disconnected' or 'unavailable' without publishing it twice.
func TestClientPublishCarriesAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	c := f.accept(ctx)
	c.welcome()

	p.run(`void h.publish('a', 1).catch((e) => window.failed = e)`)
	first := c.expect(ctx, "publish")
	key, _ := first["idempotency_key"].(string)
	if !uuidV4.MatchString(key) {
		t.Fatalf("publish %v, want an idempotency_key that is a random UUID", first)
	}
	c.send(map[string]any{"type": "error", "id": first["id"], "code": "unavailable", "message": "may have been applied"})
	p.wait(`window.failed && failed.code === 'unavailable'`)
	if got := p.value(`failed.idempotencyKey`); got != key {
		t.Fatalf("error's idempotencyKey %q, want the key sent, %q", got, key)
	}

	p.run(`void h.publish('a', 1, { idempotencyKey: failed.idempotencyKey })`)
	if again := c.expect(ctx, "publish"); again["idempotency_key"] != key {
		t.Fatalf("publish again %v, want the key %q", again, key)
	}
	p.run(`void h.publish('a', 2)`)
	if other := c.expect(ctx, "publish"); other["idempotency_key"] == key || !uuidV4.MatchString(other["idempotency_key"].(string)) {
		t.Fatalf("another publish %v, want a key of its own", other)
	}
}
