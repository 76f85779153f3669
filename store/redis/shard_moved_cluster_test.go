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
