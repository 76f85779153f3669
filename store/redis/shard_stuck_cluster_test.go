package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A shard on a master that stops answering, whose slots its replica then
// takes over, is replaced while the old master stays stopped: its topic
// is subscribed on the new master, and what is published there is
// delivered (docs/protocol.md section 12: "once it answers again or its
// slots move"). The stopped master keeps its connections open, so no
// read or probe of it ever fails but by timing out, and it sends no
// SUNSUBSCRIBE.
func TestShardOnStoppedMasterFollowsItsSlots(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10, Timeout: 300 * time.Millisecond})
	pub, sub := nodes[0], nodes[1]
	// Not the master of sub's classic connection: losing that one has
	// every connection replaced.
	topic, master, _, _ := awayAndHealthy(t, c, topicPerMaster(t, c), prefix)
	replica := replicaOf(t, c, master)
	if replica == nil {
		t.Fatalf("no replica of %s", master.Addr())
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // only the test fails the master over
	mustSubscribe(t, sub, topic)
	mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)
	master.Pause()
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	do(t, admin(t, replica.Addr()), "CLUSTER", "FAILOVER", "TAKEOVER")
	req := request(topic)
	if !eventually(func() bool { // the publisher's first tries may meet the stopped master
		_, err := pub.Publish(ctxFor(t), req)
		return err == nil
	}) {
		t.Fatalf("no publish to %s accepted once %s took its slots over", topic, replica.Addr())
	}
	got := sub.rec.waitFor(t, topic, 2)
	if got[1].ID != req.ID {
		t.Fatalf("%s got %s once its slot moved, want %s", topic, got[1].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}
