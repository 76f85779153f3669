package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// TestShardedPubSub runs on one Redis Cluster of three masters: exact
// topics travel over sharded pub/sub, one connection per master a node's
// subscribers need, with the same guarantees as classic pub/sub.
func TestShardedPubSub(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	topics := topicPerMaster(t, c) // one topic homed on each master
	t.Run("ExactDeliveryOnEveryShard", func(t *testing.T) {
		nodes := clusterNodes(t, c, 2, redis.Config{HistorySize: 10})
		pub, sub := nodes[0], nodes[1]
		for _, topic := range topics {
			mustSubscribe(t, sub, topic)
		}
		for _, topic := range topics {
			publishN(t, pub, topic, 3)
		}
		for _, topic := range topics {
			wantSeqs(t, topic, sub.rec.waitFor(t, topic, 3), 1, 3)
		}
		sub.rec.checkBreaches(t)
	})
	t.Run("ListensOnlyWhereItsTopicsAre", func(t *testing.T) {
		prefix := uniquePrefix(t)
		sub := clusterNodes(t, c, 1, redis.Config{Prefix: prefix})[0]
		topic := topics[1]
		mustSubscribe(t, sub, topic)
		home := c.MasterOfKey(topic)
		for _, m := range masters(c) {
			got := shardChannels(t, m, prefix)
			want := 0
			if m == home {
				want = 2 // the topic's channel and the shard's probe channel
			}
			if len(got) != want {
				t.Errorf("master %s holds sharded channels %v, want %d (topic %q is homed on %s)", m.Addr(), got, want, topic, home.Addr())
			}
		}
		if n := shardNumSub(t, home, prefix+"m.{"+topic+"}"); n != 1 {
			t.Errorf("PUBSUB SHARDNUMSUB of the topic's channel on its master = %d, want 1", n)
		}
		// Once its last topic goes, the node stops listening on the shard.
		if err := sub.Unsubscribe(ctxFor(t), topic); err != nil {
			t.Fatal(err)
		}
		if !eventually(func() bool { return len(shardChannels(t, home, prefix)) == 0 }) {
			t.Fatalf("master %s still holds %v after the node's last topic there went", home.Addr(), shardChannels(t, home, prefix))
		}
	})
	t.Run("Patterns", func(t *testing.T) {
		nodes := clusterNodes(t, c, 2, redis.Config{HistorySize: 10})
		pub, sub := nodes[0], nodes[1]
		mustSubscribe(t, sub, "sp.*")
		mustSubscribe(t, sub, "sp.b") // the same topic exact and by pattern: once each seq
		for _, topic := range []string{"sp.a", "sp.b", "sp.c", "spx.a"} {
			publishN(t, pub, topic, 2)
		}
		for _, topic := range []string{"sp.a", "sp.b", "sp.c"} {
			wantSeqs(t, topic, sub.rec.waitFor(t, topic, 2), 1, 2)
		}
		if got := sub.rec.messages("spx.a"); len(got) != 0 {
			t.Errorf("spx.a, which no subscription covers, delivered %d messages", len(got))
		}
		sub.rec.checkBreaches(t)
	})
	t.Run("ClassicPublishOnlyWhilePatternsHeld", func(t *testing.T) {
		prefix := uniquePrefix(t)
		nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
		pub, sub := nodes[0], nodes[1]
		raw := goredis.NewClient(&goredis.Options{Addr: masters(c)[0].Addr()})
		defer raw.Close()
		watcher := raw.PSubscribe(ctxFor(t), prefix+"m.*") // every classic publish of the prefix
		defer watcher.Close()
		if _, err := watcher.Receive(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		if !eventually(func() bool { return !redis.ClassicPublishing(pub.Engine) }) {
			t.Fatal("with no pattern held anywhere, publishes still go on classic channels")
		}
		mustSubscribe(t, sub, "gp.b")
		mustPublish(t, pub, request("gp.b"))
		sub.rec.waitFor(t, "gp.b", 1)
		if msg, err := watcher.ReceiveTimeout(ctxFor(t), 100*time.Millisecond); err == nil {
			t.Fatalf("a classic publish while no node held a pattern: %v", msg)
		}
		mustSubscribe(t, sub, "gp.*") // returns once every node publishes classically
		if !redis.ClassicPublishing(pub.Engine) {
			t.Fatal("a node holds a pattern, but publishes skip the classic channel")
		}
		mustPublish(t, pub, request("gp.a"))
		sub.rec.waitFor(t, "gp.a", 1)
		if _, err := watcher.ReceiveMessage(ctxFor(t)); err != nil {
			t.Fatalf("no classic publish once a node held a pattern: %v", err)
		}
		sub.rec.checkBreaches(t)
	})
	t.Run("KilledShardConnectionLosesNothing", func(t *testing.T) { testKilledShardConnectionLosesNothing(t, c, topics) })
	t.Run("KilledShardConnectionLosesNoPresenceChange", func(t *testing.T) { testKilledShardConnectionLosesNoPresenceChange(t, c, topics) })
	t.Run("SlotMovedAway", func(t *testing.T) { testSlotMovedAway(t, c, topics) })
	t.Run("SubscribedAgainAtOnceKeepsShard", func(t *testing.T) { testSubscribedAgainAtOnceKeepsShard(t, c, topics) })
	t.Run("ReadyWhileSlotMigrates", func(t *testing.T) { testReadyWhileSlotMigrates(t, c) })
	t.Run("SpentContextKeepsShard", func(t *testing.T) { testSpentContextKeepsShard(t, c, topics) })
	t.Run("OpenedShardOutlivesAPrune", func(t *testing.T) { testOpenedShardOutlivesAPrune(t, c, topics) })
	t.Run("MasterAwayCostsOnlyItsTopics", func(t *testing.T) {
		testMasterAway(t, c, topics, redis.Config{Timeout: 300 * time.Millisecond, CheckInterval: time.Second})
	})
	// Every probe and read of the stuck master waits out a timeout longer
	// than three check intervals, beside the checks of the other masters' topics.
	t.Run("ChecksLateBehindStuckProbes", func(t *testing.T) {
		testMasterAway(t, c, topics, redis.Config{Timeout: time.Second, CheckInterval: 100 * time.Millisecond})
	})
	t.Run("ChecksBesideStuckMaster", func(t *testing.T) { testChecksBesideStuckMaster(t, c, topics, false) })
	t.Run("ChecksBesideStuckMasterWithPattern", func(t *testing.T) { testChecksBesideStuckMaster(t, c, topics, true) })
	t.Run("ClassicMasterAway", func(t *testing.T) { testClassicMasterAway(t, c, topics) })
	t.Run("ReplayWithMasterAway", func(t *testing.T) { testReplayWithMasterAway(t, c, topics) })
	t.Run("UnknownMasterAwayCostsOnlyItsTopics", func(t *testing.T) { testUnknownMasterAway(t, c, topics) })
	t.Run("SubscribeBesideStuckRepair", func(t *testing.T) { testSubscribeBesideStuckRepair(t, c, topics) })
	t.Run("SubscribeBesideStuckShard", func(t *testing.T) { testSubscribeBesideStuckMaster(t, c, topics, true) })
	t.Run("SubscribeBesideStuckMaster", func(t *testing.T) { testSubscribeBesideStuckMaster(t, c, topics, false) })
	t.Run("HoleBesideStuckMaster", func(t *testing.T) { testHoleBesideStuckMaster(t, c, topics) })
	t.Run("DeadMasterCostsOnlyItsTopics", func(t *testing.T) { testMasterDead(t, c, topics) }) // last: the master comes back empty
	// The engine contract on Cluster is TestCluster's.
}

// clusterNodes starts n engines on c sharing one key prefix (cfg's, or a
// unique one), as n nodes.
func clusterNodes(t *testing.T, c *redistest.Cluster, n int, cfg redis.Config) []node {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	nodes := make([]node, n)
	for i := range nodes {
		cfg.NodeID = fmt.Sprintf("node%d", i)
		nodes[i] = node{Engine: newEngine(t, c.URL(), cfg), rec: newRecorder()}
		nodes[i].Attach(nodes[i].rec)
	}
	return nodes
}

// topicPerMaster returns a topic homed on each master of c, in the order
// of c's masters.
func topicPerMaster(t *testing.T, c *redistest.Cluster) []string {
	t.Helper()
	ms := masters(c)
	out := make([]string, len(ms))
	for i, found := 0, 0; found < len(ms) && i < 1000; i++ {
		topic := fmt.Sprintf("shard.t%d", i)
		if j := slices.Index(ms, c.MasterOfKey(topic)); out[j] == "" {
			out[j] = topic
			found++
		}
	}
	if slices.Contains(out, "") {
		t.Fatalf("no topic found for every master: %v", out)
	}
	return out
}

// masters returns c's masters.
func masters(c *redistest.Cluster) []*redistest.Node {
	var out []*redistest.Node
	for slot := 0; slot < 16384; slot += 1024 {
		if m := c.MasterOf(slot); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// shardChannels returns the sharded channels under prefix that n holds.
func shardChannels(t *testing.T, n *redistest.Node, prefix string) []string {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
	defer rdb.Close()
	got, err := rdb.PubSubShardChannels(ctxFor(t), prefix+"*").Result()
	if err != nil {
		t.Fatalf("PUBSUB SHARDCHANNELS on %s: %v", n.Addr(), err)
	}
	return got
}

// shardNumSub returns n's count of subscribers to the sharded channel.
func shardNumSub(t *testing.T, n *redistest.Node, channel string) int64 {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
	defer rdb.Close()
	got, err := rdb.PubSubShardNumSub(ctxFor(t), channel).Result()
	if err != nil {
		t.Fatalf("PUBSUB SHARDNUMSUB on %s: %v", n.Addr(), err)
	}
	return got[channel]
}
