package redis_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A slot moved off a master the node holds a shard on costs that master
// one new shard, not one per reading of a slot map behind the move: the
// repair that homes the shard's topics again leaves the moved slot's
// topic waiting while the map still names the old master, rather than
// subscribing it there, which Redis refused with MOVED, breaking the new
// shard and every topic on it, for another repair to home them again by
// the same map. One round subscribes the topics left on the old master,
// its new shard's probe channel, and that channel again to confirm them.
func TestSlotMovedCostsOneShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	src := masters(c)[0]
	var topics []string
	for i := 0; len(topics) < 20; i++ {
		if topic := fmt.Sprintf("moved.t%d", i); c.MasterOfKey(topic) == src {
			topics = append(topics, topic)
		}
	}
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
	}
	moved, dst := topics[0], otherMaster(c, src)
	before := redistest.CommandCalls(t, src.Addr(), "ssubscribe")
	moveSlot(t, c.Slot(moved), src, dst)
	channel := prefix + "m.{" + moved + "}"
	if !eventually(func() bool { return slices.Contains(shardChannels(t, dst, prefix), channel) }) {
		t.Fatalf("%s never subscribed on the slot's new master", channel)
	}
	for _, topic := range []string{moved, topics[1]} {
		res := mustPublishEventually(t, pub, topic)
		sub.rec.waitCovered(t, topic, res.Epoch, res.Seq)
	}
	round := len(topics) - 1 + 2
	if got := redistest.CommandCalls(t, src.Addr(), "ssubscribe") - before; got >= 2*round {
		t.Errorf("the old master ran %d SSUBSCRIBEs after the move, %d rounds of %d", got, got/round, round)
	}
	sub.rec.checkBreaches(t)
}

// A subscribe by a slot map behind a move, to a topic of the moved slot,
// leaves the shard on the slot's old master alone, with the other topics
// homed on it, and is subscribed on the slot's new master: at once when
// the node holds a shard there, which the old master's MOVED names, or
// once the map was read again. Sent to the old master, its SSUBSCRIBE was
// refused with MOVED, which breaks a shard (see receive): every topic of
// the old master's shard was subscribed again and checked.
func TestStaleMapSubscribeKeepsShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	src := masters(c)[0]
	dst := otherMaster(c, src)
	t.Run("ShardOnNewMaster", func(t *testing.T) { testStaleMapSubscribe(t, c, src, dst, "onnew", true) })
	t.Run("NoShardOnNewMaster", func(t *testing.T) { testStaleMapSubscribe(t, c, src, dst, "nonew", false) })
}

func testStaleMapSubscribe(t *testing.T, c *redistest.Cluster, src, dst *redistest.Node, name string, shardOnDst bool) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	var topics []string // two of src's slots, then one of dst's
	for i := 0; len(topics) < 3; i++ {
		topic := fmt.Sprintf("stale.%s.t%d", name, i)
		want := src
		if len(topics) == 2 {
			want = dst
		}
		if c.MasterOfKey(topic) == want && !slices.ContainsFunc(topics, func(s string) bool { return c.Slot(s) == c.Slot(topic) }) {
			topics = append(topics, topic)
		}
	}
	kept, moved, other := topics[0], topics[1], topics[2]
	mustSubscribe(t, sub, kept)
	if shardOnDst {
		mustSubscribe(t, sub, other)
	}
	shard := redis.TopicShard(sub.Engine, kept)
	repairs, before := redis.ShardRepairs(sub.Engine), redistest.CommandCalls(t, src.Addr(), "ssubscribe")
	moveSlot(t, c.Slot(moved), src, dst) // behind the node's back: its map names src still
	mustSubscribe(t, sub, moved)
	if got := redis.TopicShard(sub.Engine, kept); got != shard || redis.ShardEnded(shard) {
		t.Errorf("%s's shard was replaced", kept)
	}
	if got := redis.ShardRepairs(sub.Engine) - repairs; got != 0 {
		t.Errorf("%d shard repairs, want none", got)
	}
	if got := redistest.CommandCalls(t, src.Addr(), "ssubscribe") - before; got != 0 {
		t.Errorf("the old master ran %d SSUBSCRIBEs, want none", got)
	}
	channel := prefix + "m.{" + moved + "}"
	if got := shardNumSub(t, dst, channel); got != 1 {
		t.Errorf("%s has %d subscribers on the slot's new master, want 1", channel, got)
	}
	if shardOnDst && redis.TopicShard(sub.Engine, moved) != redis.TopicShard(sub.Engine, other) {
		t.Errorf("%s is not homed on the shard of %s, on the slot's new master", moved, other)
	}
	for _, topic := range []string{kept, moved} {
		res := mustPublishEventually(t, pub, topic)
		sub.rec.waitCovered(t, topic, res.Epoch, res.Seq)
	}
	sub.rec.checkBreaches(t)
}
