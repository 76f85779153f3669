package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testUnknownMasterAway has a node's slot map know no master for one
// topic's slot, and that master stop answering: the topic's position
// read, sent apart from the masters the map names, times out, and costs
// only that topic: what pub/sub lost of a topic of another master still
// comes from history. Both topics come through a wildcard subscription,
// so that the node holds no shard on the stopped master, and only the
// read finds it away.
func testUnknownMasterAway(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		Timeout: 300 * time.Millisecond, CheckInterval: time.Second})
	pub, sub := nodes[0], nodes[1]
	stuck, master, healthy, other := awayAndHealthy(t, c, topics, prefix)
	redis.ForgetMasterOf(sub.Engine, stuck)
	mustSubscribe(t, sub, "shard.>")
	for _, topic := range []string{stuck, healthy} {
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // a stopped master lasts
	// The periodic check reads the topics with recent traffic (and those
	// it owes): each topic has some when the master stops.
	release := holdChecks(t, sub.Engine)
	mustPublish(t, pub, request(stuck))
	sub.rec.waitFor(t, stuck, 2)
	master.Pause()
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 2)
	lost := injectAt(t, other.Addr(), prefix, healthy)
	release()
	if got := sub.rec.waitFor(t, healthy, 3); got[2].ID != lost.ID {
		t.Fatalf("%s got %s while the unknown master of %s was stuck, want the lost %s", healthy, got[2].ID, stuck, lost.ID)
	}
	master.Resume()
	sub.rec.checkBreaches(t)
}
