package redis_test

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testOpenedShardOutlivesAPrune has a prune of idle shards come right
// after a node found or opened the shard of a topic's master, before it
// homed the topic there, as the supervisor's probe tick can: the shard,
// which no topic holds yet, is kept, so the subscribe goes through, and
// so does the homing of the topic again once its connection broke, which
// takes the same steps on the supervisor. A message published meanwhile
// is delivered.
func testOpenedShardOutlivesAPrune(t *testing.T, c *redistest.Cluster, topics []string) {
	nodes := clusterNodes(t, c, 2, redis.Config{HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	redis.PruneAfterShardOpens(sub.Engine)
	topic := topics[0]
	mustSubscribe(t, sub, topic)
	mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)

	do(t, admin(t, c.MasterOfKey(topic).Addr()), "CLIENT", "KILL", "TYPE", "pubsub")
	next := mustPublish(t, pub, request(topic))
	if got := sub.rec.waitFor(t, topic, 2); got[1].ID != next.ID {
		t.Fatalf("delivered %s after the reconnect, want %s", got[1].ID, next.ID)
	}
}
