package api_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// One signed-in client joining and leaving a presence topic over and over
// counts its user's member changes (a join and a leave each) toward its
// address's budget, as an anonymous client's churn counts its presence
// entry's work: the budget that lets an anonymous client make all its
// cycles refuses the signed-in one rate_limited before the end. Counted
// as an anonymous client's, one token churned joins at its command rate
// with each join and leave making the node and Redis do its user's member
// changes, and with the webhooks on send member_added and member_removed,
// for nothing of its budget.
func TestSignedInPresenceChurnCountsItsMemberChanges(t *testing.T) {
	const cycles = 20
	const anonymousCycle = 1 + broker.PresenceJoinCommands + 1 // the subscribe, its join, the unsubscribe
	const signedInCycle = anonymousCycle + broker.MemberChangeCommands
	const burst = cycles * anonymousCycle
	start := func(tokens bool) *nodetest.Node {
		cfg := heraldnode.Config{
			NodeID: "test-node", MaxMessageBytes: testMaxMessageBytes,
			Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
			// One command a second: the test earns few while it runs.
			API: api.Config{Conns: connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})},
		}
		if tokens {
			cfg.Tokens = hsVerifier(t)
		}
		return nodetest.Start(t, nodetest.Options{Node: cfg})
	}
	churn := func(c *wsClient) (done int, refusal []byte) {
		for i := range cycles {
			r := c.command(fmt.Sprintf(`{"type":"subscribe","id":"s%d","topic":"room.1","presence":true}`, i))
			if !bytes.Contains(r, []byte(`"type":"subscribed"`)) {
				return i, r
			}
			r = c.command(fmt.Sprintf(`{"type":"unsubscribe","id":"u%d","topic":"room.1"}`, i))
			if !bytes.Contains(r, []byte(`"type":"unsubscribed"`)) {
				return i, r
			}
		}
		return cycles, nil
	}
	anonymous := mustConnect(t, start(false).WS, dialer{})
	if done, r := churn(anonymous); done != cycles {
		t.Fatalf("an anonymous client made %d of %d join and leave cycles on a burst of %d, refused %s", done, cycles, burst, r)
	}
	signedIn := mustConnect(t, start(true).WS+"?token="+hsToken(t, "ada", everything), dialer{})
	done, r := churn(signedIn)
	if done == cycles {
		t.Fatalf("a signed-in client made all %d join and leave cycles on a burst of %d, "+
			"which holds %d of its %d commands each", cycles, burst, burst/signedInCycle, signedInCycle)
	}
	if !bytes.Contains(r, []byte(`"code":"rate_limited"`)) {
		t.Fatalf("a signed-in client's churn was refused %s, want rate_limited", r)
	}
	t.Logf("a signed-in client made %d of %d join and leave cycles on a burst of %d", done, cycles, burst)
}
