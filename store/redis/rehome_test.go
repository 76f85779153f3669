package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testHomedOnTakeover kills the master of a topic a node subscribed, and
// has its replica take the slots over: the node subscribes the topic on
// the new master as soon as its slot map names it, not at a later probe
// or once a backoff ends, which the test puts an hour away. Nothing else
// brings the topic's messages: the position checks are an hour away too.
func testHomedOnTakeover(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		ProbeInterval: time.Hour, CheckInterval: time.Hour, BackoffMax: time.Hour})
	pub, sub := nodes[0], nodes[1]
	topic, master, replica := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node1.{classic.0}"))
	mustSubscribe(t, sub, topic)
	mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)
	takeOver(t, c, master, replica)
	req := request(topic)
	if !eventually(func() bool { // the publisher's first tries may meet the dead master
		_, err := pub.Publish(ctxFor(t), req)
		return err == nil
	}) {
		t.Fatalf("no publish to %s accepted once its replica took over", topic)
	}
	got := sub.rec.waitFor(t, topic, 2)
	if got[len(got)-1].ID != req.ID {
		t.Fatalf("%s got %s last once its replica took over, want %s", topic, got[len(got)-1].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}
