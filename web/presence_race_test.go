package web

import (
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestClientAsksTheMemberListOfTheSubscribeThatGrantsPresence: two handles
// of one topic subscribed in the same turn while connected, the second
// with onPresence, are two subscribes, the second asking for presence.
// The first one's answer grants no presence: the member list is asked
// once the second's does. Asked at the first, on a topic that keeps no
// presence, its refusal reached every handle, the one that asked for no
// presence too, and the one that did twice with the subscribe's own
// refusal; on a presence topic onPresence was called twice as the
// subscription went live once.
func TestClientAsksTheMemberListOfTheSubscribeThatGrantsPresence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, topic, want string }{
		{"topic without presence", "news", "live live [] [presence_off] 0"},
		{"presence topic", "room.1", "live live [] [] 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := nodetest.Start(t, nodetest.Options{Node: node.Config{
				NodeID: "presence-node",
				Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
				API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
			}})
			p := newPage(t, n.Base+"/herald.js", `true`)
			p.run(`import('/herald.js').then((herald) => {
				window.errors = []; window.listErrors = []; window.lists = 0;
				window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100 });
				h.on('error', (err) => errors.push('event ' + err.code));
				h.connect();
				return new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
			})`)
			p.run(`window.plain = h.subscribe('` + tc.topic + `', () => {}, { onError: (err) => errors.push(err.code) });
				window.withList = h.subscribe('` + tc.topic + `', () => {},
					{ onPresence: () => lists++, onError: (err) => listErrors.push(err.code) }); 0`)
			p.wait(`withList.state === 'live' && (listErrors.length > 0 || lists > 0)`)
			// What else would come follows the answers and the list asked
			// after them: a ping's pong comes after it all.
			p.run(`h.ping()`)
			if got := p.value(`plain.state + ' ' + withList.state + ' [' + errors.join() + '] [' + listErrors.join() + '] ' + lists`); got != tc.want {
				t.Errorf("states, errors and member lists %q, want %q", got, tc.want)
			}
			p.checkNoProblems()
		})
	}
}
