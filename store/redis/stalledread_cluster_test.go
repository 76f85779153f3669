package redis_test

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testHoleBesideStuckMaster has a node receive, over its classic
// connection, a message after a hole of a topic whose master does not
// answer, then messages of a topic on another master over the same
// connection, one of them after a hole too: the other topic's messages
// are delivered, and its hole read and filled, while the read of the
// stuck one's waits; that one is filled once its master answers again.
func testHoleBesideStuckMaster(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	// A timeout that outlasts every wait of the test: the stuck master's
	// read ends when it answers again.
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		Timeout: 4 * waitTimeout, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	stuck, master, healthy, other := awayAndHealthy(t, c, topics, prefix)
	mustSubscribe(t, sub, "shard.*") // both topics on the classic connection
	epochs := map[string]string{}
	for _, topic := range []string{stuck, healthy} {
		epochs[topic] = mustPublish(t, pub, request(topic)).Epoch
		sub.rec.waitFor(t, topic, 1)
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	injectAt(t, master.Addr(), prefix, stuck) // seq 2: pub/sub lost it
	master.Pause()
	t.Cleanup(master.Resume) // before the nodes close
	// Seq 3 of the stuck topic, as its master published it before it
	// stopped, through the master of the healthy one: the same cluster
	// bus link brings the healthy topic's messages after it.
	raw := goredis.NewClient(&goredis.Options{Addr: other.Addr()})
	defer raw.Close()
	payload := fmt.Sprintf("%s\n%s\n3\n%s\n%d\n{}", stuck, epochs[stuck], request(stuck).ID, time.Now().UnixMilli())
	if err := raw.Publish(ctxFor(t), redis.TopicChannel(sub.Engine, stuck), payload).Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}

	mustPublish(t, pub, request(healthy))
	sub.rec.waitCovered(t, healthy, epochs[healthy], 2)
	injectAt(t, other.Addr(), prefix, healthy) // seq 3: lost too
	last := mustPublish(t, pub, request(healthy))
	if got := summary(sub.rec.waitCovered(t, healthy, last.Epoch, last.Seq)); got != "m1-4" {
		t.Fatalf("%s while another master was stuck: %s, want m1-4", healthy, got)
	}
	if got := summary(sub.rec.covered(stuck)); got != "m1-1" {
		t.Fatalf("%s while its master was stuck: %s, want m1-1", stuck, got)
	}
	master.Resume()
	if got := summary(sub.rec.waitCovered(t, stuck, epochs[stuck], 3)); got != "m1-3" {
		t.Fatalf("%s once its master answered again: %s, want m1-3", stuck, got)
	}
	sub.rec.checkBreaches(t)
}
