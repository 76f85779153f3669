package redis_test

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The run keys of a Cluster, one a slot (see runstamp_cluster.go), on one
// cluster without replicas: a master killed comes back from its own
// files, as no replica takes over.
func TestClusterRunKeys(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	t.Run("each in its slot", func(t *testing.T) { testRunKeysInTheirSlots(t, c) })
	t.Run("restart from older snapshot", func(t *testing.T) { testClusterRestartFromOlderSnapshot(t, c) })
	t.Run("slot moved", func(t *testing.T) { testSlotMovedKeepsEpoch(t, c) })
	t.Run("shard while full", func(t *testing.T) { testShardWithoutStampWhileFull(t, c) })
	t.Run("check while full", func(t *testing.T) { testCheckWithoutStampWhileFull(t, c) })
	t.Run("control catch-up while full", func(t *testing.T) { testControlCatchUpWithoutStampWhileFull(t, c) })
	t.Run("presence replay while full", func(t *testing.T) { testReplayWithoutStampWhileFull(t, c) })
	t.Run("subscribe beside full controls master", func(t *testing.T) { testSubscribeBesideFullControlsMaster(t, c) })
}

// testRunKeysInTheirSlots checks that the run key of each slot is in that
// slot, as Redis hashes it.
func testRunKeysInTheirSlots(t *testing.T, c *redistest.Cluster) {
	a := admin(t, c.Addrs()[0])
	cmds, err := a.Pipelined(ctxFor(t), func(p goredis.Pipeliner) error {
		for slot := range 16384 {
			p.ClusterKeySlot(ctxFor(t), redis.SlotRunKey("herald:", slot))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for slot, cmd := range cmds {
		if got := cmd.(*goredis.IntCmd).Val(); got != int64(slot) {
			t.Fatalf("the run key of slot %d, %s, is in slot %d", slot, redis.SlotRunKey("herald:", slot), got)
		}
	}
}

// testClusterRestartFromOlderSnapshot is TestRestartFromOlderSnapshotStartsNewEpoch
// on the master of the topic's slot: the scripts can tell the process
// that wrote a topic's mark by the run key of its slot alone.
func testClusterRestartFromOlderSnapshot(t *testing.T, c *redistest.Cluster) {
	e := newEngine(t, c.URL(), redis.Config{HistorySize: 100})
	const topic = "snapshot"
	master := c.MasterOfKey(topic)
	for range 3 {
		mustPublish(t, e, request(topic))
	}
	do(t, admin(t, master.Addr()), "SAVE")
	var last broker.PublishResult
	for range 2 { // acknowledged, and not in the snapshot
		last = mustPublish(t, e, request(topic))
	}
	master.Restart() // SIGKILL, then back from the snapshot: seq 3
	c.WaitOK()
	checkBackFromSnapshot(t, e, topic, last)
}

// testSlotMovedKeepsEpoch moves a topic's slot, keys and all, to another
// master the engine has stamped already: the topic goes on in its epoch,
// there and on new connections, and a resume is sure. Its new master
// restarted from a snapshot older than its last publish then starts it a
// new epoch, as its old one would have.
func testSlotMovedKeepsEpoch(t *testing.T, c *redistest.Cluster) {
	e := newEngine(t, c.URL(), redis.Config{HistorySize: 100})
	const topic = "moving"
	src := c.MasterOfKey(topic)
	dst := otherMaster(c, src)
	mustPublish(t, e, request(topicOn(t, c, dst, "there"))) // the engine connects to dst, and stamps it
	before := publishN(t, e, topic, 2)
	moveSlot(t, c.Slot(topic), src, dst)
	do(t, admin(t, dst.Addr()), "CLIENT", "KILL", "TYPE", "normal") // the engine's next connections stamp dst again, or not
	moved := publishOnceBack(t, e, topic)
	if moved.Epoch != before.Epoch || moved.Seq != before.Seq+1 {
		t.Fatalf("the first publish after the slot moved got %s/%d, want %s/%d", moved.Epoch, moved.Seq, before.Epoch, before.Seq+1)
	}
	since := broker.Position{Epoch: before.Epoch, Seq: before.Seq}
	h, err := e.ResumeHistory(ctxFor(t), topic, since, 1<<20)
	if err != nil || h.Unsure || h.Seq != moved.Seq || len(h.Messages) != 1 {
		t.Fatalf("resume from %+v after the slot moved = %+v, %d messages, unsure %v, %v; want seq %d, 1 message, sure",
			since, h.Position, len(h.Messages), h.Unsure, err, moved.Seq)
	}

	do(t, admin(t, dst.Addr()), "SAVE")
	last := mustPublish(t, e, request(topic)) // acknowledged, and not in the snapshot
	dst.Restart()
	c.WaitOK()
	next := publishOnceBack(t, e, topic)
	if next.Epoch == last.Epoch {
		t.Fatalf("the first publish after the new master's restart got seq %d of epoch %s, which was acknowledged", next.Seq, next.Epoch)
	}
}

// testPromotedReplicaStampedFirst has the engine hold connections to a
// replica, as go-redis does after it read the slot map from it, and the
// replica take over: its first publish there, on such a connection,
// starts the topic a new epoch, and the next, on a connection opened
// after it, goes on in that epoch, not in a second new one that would
// leave the first one's messages out of history.
func testPromotedReplicaStampedFirst(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	pub := newEngine(t, c.URL(), redis.Config{Prefix: prefix, HistorySize: 10, NodeID: "node0"})
	topic, master, replica := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node0.{classic.0}"))
	before := mustPublish(t, pub, request(topic))
	if err := redis.PingReplicas(ctxFor(t), pub); err != nil {
		t.Fatal(err)
	}
	takeOver(t, c, master, replica)
	first := publishOnceBack(t, pub, topic)
	if first.Epoch == before.Epoch {
		t.Fatalf("the first publish on the promoted replica got seq %d of the old master's epoch", first.Seq)
	}
	do(t, admin(t, replica.Addr()), "CLIENT", "KILL", "TYPE", "normal") // the next publish opens a connection
	second := publishOnceBack(t, pub, topic)
	if second.Epoch != first.Epoch || second.Seq != first.Seq+1 {
		t.Fatalf("the publishes after the takeover got %s/%d, then %s/%d: want one epoch", first.Epoch, first.Seq, second.Epoch, second.Seq)
	}
}

// testShardWithoutStampWhileFull makes the master of a topic full under
// noeviction when it needs stamping (its script cache flushed, as a
// restart leaves it): it refuses the stamp to every connection the engine
// opens to it, which would run scripts. The topic's sharded pub/sub
// connection runs none, nor do the probes' publishes: it comes back all
// the same, and what reaches the topic's channel is delivered.
func testShardWithoutStampWhileFull(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	const topic = "full"
	mustSubscribe(t, sub, topic)
	first := mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)
	killed := redis.TopicShard(sub.Engine, topic)

	a := admin(t, c.MasterOfKey(topic).Addr())
	do(t, a, "SCRIPT", "FLUSH") // the next connection stamps every slot, as after a restart
	do(t, a, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	do(t, a, "CONFIG", "SET", "maxmemory", "1") // full: every write refused
	t.Cleanup(func() { a.ConfigSet(context.Background(), "maxmemory", "0") })
	do(t, a, "CLIENT", "KILL", "TYPE", "normal") // no connection stamped before is left, as after a restart
	do(t, a, "CLIENT", "KILL", "TYPE", "pubsub")
	channel := prefix + "m.{" + topic + "}"
	// go-redis redials the killed shard and subscribes it again by itself,
	// before the node sees the break and closes that shard: its one
	// subscriber may be the old shard, and a message sent straight to the
	// channel, kept in no history, reaches none of the node's connections
	// between that close and the new shard's subscribe.
	if !eventually(func() bool {
		sh := redis.TopicShard(sub.Engine, topic)
		return sh != nil && sh != killed && redis.ShardEnded(killed) &&
			do(t, a, "PUBSUB", "SHARDNUMSUB", channel).([]any)[1] == int64(1)
	}) {
		t.Fatalf("the subscriber's node never subscribed %s again while its master was full", channel)
	}
	// Its probes go through: one the master refused would have the
	// node take it for away, and hold its topics.
	probes := redis.Probes(sub.Engine)
	if !eventually(func() bool { return redis.Probes(sub.Engine) >= probes+2 }) {
		t.Fatal("the subscriber's node probed its connections no more")
	}
	next := request(topic)
	payload := fmt.Sprintf("%s\n%s\n%d\n%s\n%d\n%s", topic, first.Epoch, first.Seq+1, next.ID, next.Time, next.Data)
	do(t, a, "SPUBLISH", channel, payload) // SPUBLISH takes no memory Redis refuses
	if got := sub.rec.waitFor(t, topic, 2); got[1].ID != next.ID {
		t.Fatalf("delivered %s after the reconnect, want %s", got[1].ID, next.ID)
	}
}
