package web

import (
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestClientBackOnSSESaysAgainThatItHasNoPresence: a client that fell
// back to SSE tells a presence subscription once that it has no
// presence there; back on WebSocket, where its presence works again
// (onPresence), then back on SSE, it tells it again: the member list
// the page keeps stops changing from then on, and the page has no other
// word of it.
func TestClientBackOnSSESaysAgainThatItHasNoPresence(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "presence-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	proxy, front := newSwitchingProxy(t, n.Base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.told = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 200 });
		window.room = h.subscribe('room.1', () => {}, {
			onPresence: () => told.push('presence'), onError: (e) => told.push(e.code) });
		h.connect();
		return 0;
	})`)
	p.wait(`h.transport === 'sse' && room.state === 'live'`)
	proxy.blocked.Store(false)
	p.wait(`h.transport === 'websocket' && told.includes('presence')`)
	proxy.blocked.Store(true)
	p.run(`h._ws.close(); 0`)
	p.wait(`h.transport === 'sse' && h.state === 'connected' && room.state === 'live'`)
	if got := p.value(`told.join()`); got != "receive_only,presence,receive_only" {
		t.Errorf("the presence subscription was told %q, want receive_only,presence,receive_only", got)
	}
	p.checkNoProblems()
}
