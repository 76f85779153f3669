package web

import (
	"testing"
)

// lobbyMessage is chat.lobby's message seq of epoch e1, tagged with
// pattern when it came through one.
func lobbyMessage(seq int, pattern string) map[string]any {
	m := epochMessage("chat.lobby", "e1", seq)
	if pattern != "" {
		m["pattern"] = pattern
	}
	return m
}

// overlapClient is a page subscribed to chat.lobby and chat.*, each
// listener's seqs kept apart, past its first connection: both live,
// chat.lobby at seq 1 of e1. It returns the page and the second
// connection, welcomed, with its two resubscribes read.
func overlapClient(t *testing.T) (p *page, c *fakeConn, exact, wild map[string]any) {
	ctx := testContext(t)
	f := newFakeHerald(t)
	p = startClient(t, f, "", "{}")
	p.run(`window.got = {exact: [], wild: []};
		h.subscribe('chat.lobby', (m) => got.exact.push(m.seq));
		h.subscribe('chat.*', (m) => got.wild.push(m.seq));`)
	c1 := f.accept(ctx)
	c1.welcome()
	for range 2 {
		cmd := c1.expect(ctx, "subscribe")
		if cmd["topic"] == "chat.*" {
			c1.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.*"})
		} else {
			c1.send(subscribed(cmd, "e1", 0))
		}
	}
	c1.send(lobbyMessage(1, ""))
	p.wait(`got.exact.join() === '1' && got.wild.join() === '1'`)
	c1.drop()

	c = f.accept(ctx)
	c.welcome()
	exact, wild = c.expect(ctx, "subscribe"), c.expect(ctx, "subscribe")
	if exact["topic"] != "chat.lobby" || wild["topic"] != "chat.*" {
		t.Fatalf("resubscribes %v then %v, want chat.lobby then chat.*", exact, wild)
	}
	return p, c, exact, wild
}

// wantResumeFrom fails unless cmd resumes chat.lobby from seq.
func wantResumeFrom(t *testing.T, cmd map[string]any, seq int) {
	t.Helper()
	if since, _ := cmd["since"].(map[string]any); cmd["topic"] != "chat.lobby" || since["seq"] != float64(seq) {
		t.Fatalf("resubscribe %v, want chat.lobby since seq %d", cmd, seq)
	}
}

// A pattern that goes live before an exact topic's resume is answered (a
// subscribe hook answers the pattern first) delivers the topic's newest
// message first; the resume then sends the ones before it. The exact
// topic's listener gets them all, in order: the pattern's message no
// longer moves the topic past what its resume still sends.
func TestClientResumeAnsweredAfterAPatternLosesNothing(t *testing.T) {
	t.Parallel()
	p, c, exact, wild := overlapClient(t)
	wantResumeFrom(t, exact, 1)
	c.send(map[string]any{"type": "subscribed", "id": wild["id"], "topic": "chat.*"})
	c.send(lobbyMessage(5, "chat.*")) // published during the resume's setup: not sent again
	p.wait(`got.wild.join() === '1,5'`)
	c.send(subscribed(exact, "e1", 5, true))
	for seq := 2; seq <= 4; seq++ {
		c.send(lobbyMessage(seq, ""))
	}
	c.send(lobbyMessage(6, ""))
	p.wait(`got.exact.at(-1) === 6`)
	if got := p.value(`got.exact.join()`); got != "1,2,3,4,5,6" {
		t.Errorf("the exact topic's listener got %s, want 1,2,3,4,5,6", got)
	}
	// The pattern got 5 live, and the rest once, as they came.
	if got := p.value(`got.wild.join()`); got != "1,5,2,3,4,6" {
		t.Errorf("the pattern's listener got %s, want 1,5,2,3,4,6", got)
	}
}

// An exact topic whose resume is refused for now (unavailable) is tried
// again; what a live pattern delivers of it meanwhile does not move it, so
// that the retry resumes from where it stood and nothing is skipped.
func TestClientResumeRetriedAfterAPatternLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, c, exact, wild := overlapClient(t)
	c.send(map[string]any{"type": "error", "id": exact["id"], "code": "unavailable", "message": "try again"})
	c.send(map[string]any{"type": "subscribed", "id": wild["id"], "topic": "chat.*"})
	c.send(lobbyMessage(5, "chat.*"))
	p.wait(`got.wild.join() === '1,5'`)
	retry := c.expect(ctx, "subscribe")
	wantResumeFrom(t, retry, 1)
	c.send(subscribed(retry, "e1", 5, true))
	for seq := 2; seq <= 5; seq++ { // 5 came before this resume began: history sends it
		c.send(lobbyMessage(seq, ""))
	}
	c.send(lobbyMessage(6, ""))
	p.wait(`got.exact.at(-1) === 6`)
	if got := p.value(`got.exact.join()`); got != "1,2,3,4,5,6" {
		t.Errorf("the exact topic's listener got %s, want 1,2,3,4,5,6", got)
	}
	// The pattern got 5 live, and the rest once, as they came.
	if got := p.value(`got.wild.join()`); got != "1,5,2,3,4,6" {
		t.Errorf("the pattern's listener got %s, want 1,5,2,3,4,6", got)
	}
}
