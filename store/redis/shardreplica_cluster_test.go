package redis_test

import (
	"slices"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testNoShardOnReplica subscribes a topic right after its master handed
// its slots over to its replica, while the node's slot map still names
// the old master, now a replica, which Redis lets take the SSUBSCRIBE;
// and publishes to it at once. The node opens its shard on the new master
// all the same, and the message is delivered. On the replica the new
// master passes it nothing until it learns, over the cluster bus, that
// the node is its replica (see onSlotMaster), and nothing told the node
// what was lost meanwhile.
//
// The new master's run keys are stamped by the node's first script
// there, the subscribe's read of the topic's position; slowed past the
// node's timeout (as a stamp of its 5,461 slots is on a machine busy
// enough), the stamp has a deadline of its own, and the read its whole
// timeout after it (see stampFirst).
func testNoShardOnReplica(t *testing.T, c *redistest.Cluster) {
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // only the test fails masters over
	nodes := clusterNodes(t, c, 2, redis.Config{HistorySize: 100})
	pub, sub := nodes[0], nodes[1]
	topics := topicPerMaster(t, c)
	// The node reads the slot map, and opens a shard, on another master.
	mustSubscribe(t, sub, topics[1])
	publishOnceBack(t, pub, topics[1])
	sub.rec.waitFor(t, topics[1], 1)

	m := c.MasterOfKey(topics[0])
	r := replicaOf(t, c, m)
	if r == nil {
		t.Fatalf("no replica of %s", m.Addr())
	}
	handOver(t, m, r)
	defer handOver(t, r, m)
	redis.SlowStamps(sub.Engine, 3*testTimeout/2)
	mustSubscribe(t, sub, topics[0])
	redis.SlowStamps(sub.Engine, 0)
	if got, ms := redis.ShardMasters(sub.Engine), masterAddrs(c); slices.ContainsFunc(got, func(addr string) bool {
		return !slices.Contains(ms, addr)
	}) {
		t.Errorf("shards on %v, want on the masters %v alone", got, ms)
	}
	publishOnceBack(t, pub, topics[0])
	sub.rec.waitFor(t, topics[0], 1)
	sub.rec.checkBreaches(t)
}

// masterAddrs returns the addresses of c's masters.
func masterAddrs(c *redistest.Cluster) []string {
	var out []string
	for _, m := range masters(c) {
		out = append(out, m.Addr())
	}
	return out
}
