package api_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
)

// One address that holds more subscriptions than its command burst,
// closes them all at once and subscribes again, over and over, has Redis
// subscribe and unsubscribe no more often than its budget counts
// commands: its close owes every unsubscribe it makes the node do. Owing
// one burst at most, the rest forgiven, each round had Redis do the
// unsubscribes of all it held for a burst's worth of commands.
func TestClosesOfMoreThanABurstOweEveryUnsubscribe(t *testing.T) {
	const rate, burst, held = 100, 10, 100 // held: the address's subscription bound, one connection's
	srv := redistest.Start(t)
	n := nodetest.Start(t, nodetest.Options{Engine: redisEngine(t, srv.URL()), Node: heraldnode.Config{
		NodeID: "test-node",
		Broker: broker.Config{MaxSubscriptions: held, RateLimit: 1000},
		API: api.Config{Conns: connLimiter(t, limits.ConnConfig{
			CommandRate: rate, CommandBurst: burst, Subscriptions: held})},
	}})
	pubsub := func() int {
		return redistest.CommandCalls(t, srv.Addr(), "subscribe") + redistest.CommandCalls(t, srv.Addr(), "unsubscribe")
	}
	calls0 := pubsub()
	const run = 4 * time.Second
	const slack = 5 // the engine's own SUBSCRIBE and UNSUBSCRIBE calls
	start := time.Now()
	topics, rounds, checked := 0, 0, 0
	var c *wsClient
	for ; time.Since(start) < run; rounds++ {
		if c != nil {
			c.conn.Close()
		}
		c = mustConnect(t, n.WS, dialer{})
		subscribed := 0
		for subscribed < held && time.Since(start) < run {
			r := c.command(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":"debt.%d.%d"}`, rounds, subscribed))
			if bytes.Contains(r, []byte(`"type":"subscribed"`)) {
				subscribed++
				topics++
			} else {
				time.Sleep(5 * time.Millisecond) // refused: the budget, or the last close's subscriptions not yet given back
			}
		}
		if subscribed == 0 {
			continue
		}
		// Right after a subscribe went through, the address owes nothing:
		// every subscribe and every unsubscribe of the closes before it
		// has been paid for by then.
		calls, spent := pubsub()-calls0, time.Since(start)
		allowed := burst + int(spent.Seconds()*rate) + 1
		t.Logf("round %d: %d topics in %v; Redis ran %d SUBSCRIBE and UNSUBSCRIBE; the budget allows %d commands",
			rounds, topics, spent.Round(time.Millisecond), calls, allowed)
		if calls > allowed+slack {
			t.Fatalf("Redis ran %d SUBSCRIBE and UNSUBSCRIBE for one address in %v, whose budget allows %d commands (a burst of %d, %d a second)",
				calls, spent.Round(time.Millisecond), allowed, burst, rate)
		}
		checked++
	}
	if checked < 2 {
		t.Errorf("subscribes went through in %d rounds: no close of more than a burst was paid for", checked)
	}
}
