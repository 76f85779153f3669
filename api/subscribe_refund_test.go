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

// An address whose presence subscribes fail while Redis is down, as a
// client's do that asks again through an outage, is given back what they
// were counted for the presence joins that never ran: once Redis is back
// it subscribes as many presence topics as its budget held before. Kept,
// the N failures took 3N commands of a burst of 4N, and of the N
// subscribes after only about a third went through.
func TestFailedSubscribesGiveBackTheirWork(t *testing.T) {
	const topics = 10
	const burst = topics*(1+broker.PresenceJoinCommands) + topics // N failures of one command, N presence subscribes
	srv := redistest.Start(t)
	n := nodetest.Start(t, nodetest.Options{Engine: redisEngine(t, srv.URL()), Node: heraldnode.Config{
		NodeID: "test-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		// One command a second: the test earns a few while Redis restarts.
		API: api.Config{Conns: connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})},
	}})
	c := mustConnect(t, n.WS, dialer{})

	srv.Stop()
	for i := range topics {
		r := c.command(fmt.Sprintf(`{"type":"subscribe","id":"s%d","topic":"room.%d","presence":true}`, i, i))
		if !bytes.Contains(r, []byte(`"code":"unavailable"`)) {
			t.Fatalf("subscribe %d with Redis down: %s, want unavailable", i, r)
		}
	}
	srv.Restart()
	waitSubscribes(t, n.WS)

	for i := range topics {
		r := c.command(fmt.Sprintf(`{"type":"subscribe","id":"s%d","topic":"room.%d","presence":true}`, i, i))
		if !bytes.Contains(r, []byte(`"type":"subscribed"`)) {
			t.Fatalf("presence subscribe %d of %d with Redis back, after %d failed: %s", i+1, topics, topics, r)
		}
	}
}

// waitSubscribes waits up to 30 s for the node at url to take a
// subscribe, from another address than the test's clients: its Redis is
// back.
func waitSubscribes(t *testing.T, url string) {
	t.Helper()
	probe := mustConnect(t, url, dialer{from: "127.0.0.2"})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if r := probe.command(`{"type":"subscribe","id":"probe","topic":"probe"}`); bytes.Contains(r, []byte(`"type":"subscribed"`)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis not back within 30 s")
		}
	}
}
