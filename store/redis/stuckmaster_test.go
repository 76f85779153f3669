package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testChecksBesideStuckMaster stops one master of c for as long as the
// test runs, with a timeout a hundred check and probe intervals long,
// and has pub/sub lose a message of a topic on another master, at once
// and then every few intervals, while the node's probes and checks meet
// the stopped master. Each time the lost message must come from history
// before half the timeout has passed, fifty check intervals: a check of
// the healthy master's topics that waits behind a probe or a read of the
// stopped one comes only once that has waited out the timeout. pattern
// has the topics come through a wildcard subscription (classic pub/sub,
// and the periodic probe through every master of the slot map, which is
// read again from one node after another, the stopped one among them)
// rather than exact ones (sharded pub/sub).
func testChecksBesideStuckMaster(t *testing.T, c *redistest.Cluster, topics []string, pattern bool) {
	const checkEvery = 100 * time.Millisecond
	timeout := 100 * checkEvery
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10, Timeout: timeout,
		CheckInterval: checkEvery, ProbeInterval: checkEvery})
	pub, sub := nodes[0], nodes[1]
	stuck, master, healthy, other := awayAndHealthy(t, c, topics, prefix)
	if pattern {
		mustSubscribe(t, sub, "shard.>")
	}
	for _, topic := range []string{stuck, healthy} {
		if !pattern {
			mustSubscribe(t, sub, topic)
		}
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // a stopped master lasts
	// The periodic check reads the topics with recent traffic: the stopped
	// master's has some when it stops.
	mustPublish(t, pub, request(stuck))
	sub.rec.waitFor(t, stuck, 2)
	master.Pause()
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	for n := 2; n <= 8; n += 2 {
		if n > 2 {
			time.Sleep(5 * checkEvery) // probes and checks meet the stopped master meanwhile
		}
		release := holdChecks(t, sub.Engine)
		mustPublish(t, pub, request(healthy))
		sub.rec.waitFor(t, healthy, n)
		lost := injectAt(t, other.Addr(), prefix, healthy)
		release()
		got := waitForWithin(t, sub.rec, healthy, n+1, timeout/2)
		if got[n].ID != lost.ID {
			t.Fatalf("%s got %s while another master was stopped, want the lost %s", healthy, got[n].ID, lost.ID)
		}
	}
	master.Resume()
	sub.rec.checkBreaches(t)
}

// waitForWithin is recorder.waitFor with a deadline of its own.
func waitForWithin(t *testing.T, r *recorder, topic string, n int, within time.Duration) []*broker.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := r.messages(topic)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %q got %d messages within %v, want %d", topic, len(got), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
