package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testTwinsFollowTheMasters hands every master's slots over to its
// replica, and back, twice over, while a node subscribes a topic on each
// master and another publishes to them: after each round, each node
// holds twins (the masters' clients without the stamp) for the masters
// alone, not for every address that ever was one, and the topics are
// delivered, once the masters are back at their first addresses too.
// Then the subscriber's pub/sub connections are cut, and what is
// published meanwhile still reaches it: the check after the reconnect
// reads through the twins of masters that came back.
func testTwinsFollowTheMasters(t *testing.T, c *redistest.Cluster) {
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // only the test fails masters over
	// The publisher holds nothing: only its periodic read of the masters
	// closes its twins of the masters that handed their slots over.
	nodes := clusterNodes(t, c, 2, redis.ReadMastersEvery(redis.Config{HistorySize: 100}, 300*time.Millisecond))
	pub, sub := nodes[0], nodes[1]
	topics := topicPerMaster(t, c)
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
	}
	sent := 0
	deliver := func(when string) {
		t.Helper()
		sent++
		for _, topic := range topics {
			publishOnceBack(t, pub, topic)
		}
		for _, topic := range topics {
			if got := sub.rec.waitFor(t, topic, sent); len(got) != sent {
				t.Fatalf("%s: %s delivered %d messages, want %d", when, topic, len(got), sent)
			}
		}
	}
	deliver("before the handovers")
	for round := range 4 {
		for _, m := range masters(c) {
			r := replicaOf(t, c, m)
			if r == nil {
				t.Fatalf("round %d: no replica of %s", round, m.Addr())
			}
			handOver(t, m, r)
		}
		wantTwinsOfMasters(t, c, round, pub.Engine, sub.Engine)
		deliver("after the handovers")
	}
	for _, n := range c.Nodes() {
		do(t, admin(t, n.Addr()), "CLIENT", "KILL", "TYPE", "pubsub")
	}
	deliver("after the pub/sub connections were cut")
	wantTwinsOfMasters(t, c, 4, pub.Engine, sub.Engine)
	sub.rec.checkBreaches(t)
}

// wantTwinsOfMasters waits until each of engines holds twins of c's
// masters alone, and of the addresses its shards are on: a shard whose
// master has just handed its slots over holds its twin, whose connection
// it is, until it is replaced on the new master.
func wantTwinsOfMasters(t *testing.T, c *redistest.Cluster, round int, engines ...*redis.Engine) {
	t.Helper()
	var ms []string
	for _, m := range masters(c) {
		ms = append(ms, m.Addr())
	}
	for i, e := range engines {
		var got, want []string
		if !eventually(func() bool {
			got, want = redis.Twins(e), slices.Concat(ms, redis.ShardMasters(e))
			return !slices.ContainsFunc(got, func(addr string) bool { return !slices.Contains(want, addr) })
		}) {
			t.Fatalf("round %d: node %d holds twins of %v, want of the masters %v and its shards' %v alone",
				round, i, got, ms, redis.ShardMasters(e))
		}
		t.Logf("round %d: node %d holds twins of %v; masters %v, shards %v", round, i, got, ms, redis.ShardMasters(e))
	}
}
