package redis_test

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testSubscribedAgainAtOnceKeepsShard unsubscribes a topic and subscribes
// it again at once, as a node does when a topic's last subscriber leaves
// and the next one comes: the reply to the SUNSUBSCRIBE comes once the
// topic is wanted again, and is no sign that its slot moved. It was taken
// for one, and the shard replaced, counted as a reconnect and an error,
// nearly every time (a soak on a healthy Cluster counted 3 reconnects and
// 4 errors in 4 minutes).
func testSubscribedAgainAtOnceKeepsShard(t *testing.T, c *redistest.Cluster, topics []string) {
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: uniquePrefix(t), HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	topic := topics[0]
	mustSubscribe(t, sub, topic)
	for range 20 {
		if err := sub.Unsubscribe(ctxFor(t), topic); err != nil {
			t.Fatal(err)
		}
		mustSubscribe(t, sub, topic)
	}
	mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)
	if n := redis.ShardRepairs(sub.Engine); n != 0 {
		t.Errorf("%d shards replaced on a healthy cluster, want none", n)
	}
}
