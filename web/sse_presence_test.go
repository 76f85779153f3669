package web

import (
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestClientOverSSESaysOnceThatItHasNoPresence: a stream takes no
// presence:true and no presence command (docs/protocol.md section 10), so
// a subscription with onPresence, onJoin or onLeave hears once, through
// its onError, that the client on SSE has no presence, and not again at
// each reopen of the stream; its messages go on.
func TestClientOverSSESaysOnceThatItHasNoPresence(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "presence-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	p := newPage(t, n.Base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.told = []; window.opens = 0;
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		h.on('state', (s) => { if (s === 'connected') opens++; });
		const sub = h.subscribe('room.1', (m) => got.push(m.data), {
			onPresence: () => told.push('presence'), onJoin: () => told.push('join'),
			onError: (e) => told.push(e.code + ' ' + e.topic) });
		h.connect();
		return sub.ready;
	})`)
	// Each new subscription reopens the stream, which resubscribes room.1.
	p.run(`h.subscribe('other', () => {}).ready`)
	p.run(`h.subscribe('more', () => {}).ready`)
	publishHTTP(t, n.Base, `{"topic":"room.1","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`opens + ' ' + JSON.stringify(told)`); got != `3 ["receive_only room.1"]` {
		t.Errorf("stream opens and what the presence subscription was told: %s, want 3 opens and one receive_only", got)
	}
	p.checkNoProblems()
}
