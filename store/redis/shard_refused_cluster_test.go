package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A slot that moves off a master between a subscribe's check that the
// master holds it and the topic's SSUBSCRIBE there has Redis refuse the
// SSUBSCRIBE with MOVED on the shard's connection: the topic goes to the
// slot's new master, and the shard, with the other topics homed on it,
// stays. The refusal broke the shard, and every topic homed on it was
// subscribed again and checked, for one subscribe. The slot is moved
// (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) right after the
// check, through the node's hook for it.
func TestSlotMovedBeforeSubscribeKeepsShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	src := masters(c)[0]
	dst := otherMaster(c, src)
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	kept, moved := twoSlotsOf(t, c, src, "racing")
	var move sync.Once
	var armed sync.Mutex
	armed.Lock()
	redis.AfterShardFound(sub.Engine, func() {
		if armed.TryLock() { // only once the test armed it: the hook runs for every shard found
			move.Do(func() { moveSlot(t, c.Slot(moved), src, dst) })
			armed.Unlock()
		}
	})
	mustSubscribe(t, sub, kept)
	shard := redis.TopicShard(sub.Engine, kept)
	repairs, waits := redis.ShardRepairs(sub.Engine), redis.MasterWaits(sub.Engine)
	armed.Unlock()
	mustSubscribe(t, sub, moved)
	if got := redis.TopicShard(sub.Engine, kept); got != shard || redis.ShardEnded(shard) {
		t.Errorf("%s's shard was replaced", kept)
	}
	if got := redis.ShardRepairs(sub.Engine) - repairs; got != 0 {
		t.Errorf("%d shard repairs, want none", got)
	}
	if got := redis.MasterWaits(sub.Engine) - waits; got != 0 {
		t.Errorf("the subscribe was tried again %d times for want of its master, want none", got)
	}
	checkDeliveredOn(t, pub, sub, dst, prefix, kept, moved)
}

// A MOVED that names a master the node knows no client of (a replica
// promoted, or a master added, since the node last read the masters) is
// followed all the same, by a shard opened on that address, whose check
// says it holds the slot: the subscribe waited for go-redis to read the
// slot map again, 20 to 200 ms, tried again every 20 ms or more
// (Subscribe).
func TestMovedToUnknownMasterOpensShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	src := masters(c)[0]
	dst := otherMaster(c, src)
	prefix := uniquePrefix(t)
	cfg := redis.ReadMastersEvery(redis.Config{Prefix: prefix, HistorySize: 10}, time.Hour)
	nodes := clusterNodes(t, c, 2, cfg)
	pub, sub := nodes[0], nodes[1]
	kept, moved := twoSlotsOf(t, c, src, "unknown")
	mustSubscribe(t, sub, kept)
	if !eventually(func() bool { return redis.ForgetMasters(sub.Engine) }) {
		t.Fatal("the node never read the masters")
	}
	if slices.Contains(redis.ShardMasters(sub.Engine), dst.Addr()) {
		t.Fatalf("the node holds a shard on %s already", dst.Addr())
	}
	waits := redis.MasterWaits(sub.Engine)
	moveSlot(t, c.Slot(moved), src, dst) // behind the node's back: its map names src still
	mustSubscribe(t, sub, moved)
	if got := redis.MasterWaits(sub.Engine) - waits; got != 0 {
		t.Errorf("the subscribe was tried again %d times for want of its master, want none", got)
	}
	if got := redis.ShardRepairs(sub.Engine); got != 0 {
		t.Errorf("%d shard repairs, want none", got)
	}
	checkDeliveredOn(t, pub, sub, dst, prefix, kept, moved)
}

// twoSlotsOf returns two topics of two slots of n.
func twoSlotsOf(t *testing.T, c *redistest.Cluster, n *redistest.Node, base string) (string, string) {
	t.Helper()
	var topics []string
	for i := 0; len(topics) < 2 && i < 1000; i++ {
		topic := fmt.Sprintf("%s.t%d", base, i)
		if c.MasterOfKey(topic) == n && !slices.ContainsFunc(topics, func(s string) bool { return c.Slot(s) == c.Slot(topic) }) {
			topics = append(topics, topic)
		}
	}
	if len(topics) < 2 {
		t.Fatalf("no two topics %s.t<n> of two slots of %s", base, n.Addr())
	}
	return topics[0], topics[1]
}

// checkDeliveredOn checks that moved is subscribed once on dst, and that
// kept and moved are delivered.
func checkDeliveredOn(t *testing.T, pub, sub node, dst *redistest.Node, prefix, kept, moved string) {
	t.Helper()
	channel := prefix + "m.{" + moved + "}"
	if got := shardNumSub(t, dst, channel); got != 1 {
		t.Errorf("%s has %d subscribers on the slot's new master, want 1", channel, got)
	}
	for _, topic := range []string{kept, moved} {
		res := mustPublishEventually(t, pub, topic)
		sub.rec.waitCovered(t, topic, res.Epoch, res.Seq)
	}
	sub.rec.checkBreaches(t)
}
