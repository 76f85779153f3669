package web

import (
	"context"
	"testing"
	"time"
)

// TestClientTriesWebSocketAgainAfterFallingBack: two upgrades in a row
// held past the client's timeout while plain HTTP answers look like a
// proxy that blocks WebSocket, and the client falls back to SSE; an
// upgrade merely slower than the timeout (a node or network under load)
// looks the same. With no subscription it opens no stream and cannot
// publish. Once upgrades are answered again the client, trying WebSocket
// again after a while, is welcomed and publishes.
func TestClientTriesWebSocketAgainAfterFallingBack(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	f.holdUpgrades(true)
	p := startClient(t, f, "", `{ timeout: 300 }`) // maxDelay 100
	p.run(`h.on('state', (s, info) => { if (s === 'connected' && info.transport === 'sse') window.onSSE = true; })`)
	p.wait(`window.onSSE === true`)
	if got := p.value(`h.publish('news', 1).then(() => 'published', (err) => err.code)`); got != "receive_only" {
		t.Fatalf("publish on SSE: %s, want receive_only", got)
	}
	f.holdUpgrades(false)
	back, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := f.accept(back)
	c.welcome()
	p.wait(`h.transport === 'websocket' && h.state === 'connected'`)
	p.run(`window.published = h.publish('news', 1).then((reply) => reply.seq, (err) => err.code); 0`)
	cmd := c.expect(ctx, "publish")
	c.send(map[string]any{"type": "published", "id": cmd["id"], "topic": "news", "seq": 7, "msg": "m-news-7"})
	if got := p.value(`published`); got != "7" {
		t.Errorf("publish after WebSocket came back: %s, want seq 7", got)
	}
}
