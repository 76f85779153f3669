package web

import (
	"testing"
)

// patternClient is a page with chat.* live on its connection, each
// listener's seqs kept apart, that then subscribes to chat.lobby with
// handlers (a JS object literal). It returns the page, the connection and
// chat.lobby's first subscribe, unanswered.
func patternClient(t *testing.T, handlers string) (p *page, c *fakeConn, exact map[string]any) {
	ctx := testContext(t)
	f := newFakeHerald(t)
	p = startClient(t, f, "", "{}")
	p.run(`window.got = {exact: [], wild: []};
		h.subscribe('chat.*', (m) => got.wild.push(m.seq));`)
	c = f.accept(ctx)
	c.welcome()
	wild := c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "subscribed", "id": wild["id"], "topic": "chat.*"})
	p.run(`h.subscribe('chat.lobby', (m) => got.exact.push(m.seq), ` + handlers + `);`)
	exact = c.expect(ctx, "subscribe")
	if exact["topic"] != "chat.lobby" || exact["since"] != nil {
		t.Fatalf("first subscribe %v, want chat.lobby without since", exact)
	}
	return p, c, exact
}

// A topic subscribed to with a backlog under a live pattern: what the
// pattern brings of it before the first reply (published before the
// subscription began, or while the server set it up) is shown once, in
// its place among the backlog, not once before the backlog and again in
// it.
func TestClientBacklogUnderAPatternShowsEachMessageOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, c, first := patternClient(t, `{backlog: 3}`)
	c.send(lobbyMessage(5, "chat.*"))
	c.send(lobbyMessage(6, "chat.*")) // published after the server read seq 5
	c.send(subscribed(first, "e1", 5))
	c.expect(ctx, "unsubscribe")
	resume := c.expect(ctx, "subscribe")
	wantResumeFrom(t, resume, 2)
	c.send(subscribed(resume, "e1", 6, true))
	for seq := 3; seq <= 7; seq++ { // history 3..6, then live 7
		c.send(lobbyMessage(seq, ""))
	}
	p.wait(`got.exact.at(-1) === 7`)
	if got := p.value(`got.exact.join()`); got != "3,4,5,6,7" {
		t.Errorf("the exact topic's listener got %s, want 3,4,5,6,7", got)
	}
}

// A topic subscribed to without a backlog under a live pattern starts
// where the server's reply says, as it does with no pattern: what the
// pattern brings of it before the reply is shown only when it comes after
// the reply's seq (the server, having sent it through the pattern while
// it set the subscription up, does not send it again).
func TestClientSubscribeUnderAPatternStartsAtTheReply(t *testing.T) {
	t.Parallel()
	p, c, first := patternClient(t, `{}`)
	for seq := 3; seq <= 6; seq++ {
		c.send(lobbyMessage(seq, "chat.*"))
	}
	c.send(subscribed(first, "e1", 5))
	c.send(lobbyMessage(7, ""))
	p.wait(`got.exact.at(-1) === 7`)
	if got := p.value(`got.exact.join()`); got != "6,7" {
		t.Errorf("the exact topic's listener got %s, want 6,7 (what follows the reply's seq 5)", got)
	}
}
