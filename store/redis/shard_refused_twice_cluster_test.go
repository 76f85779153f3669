package redis_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Two topics of one slot whose SSUBSCRIBEs both reach the slot's old
// master after the slot moved get one MOVED each: each goes to the new
// master, and the shard, with the other topics homed on it, stays. The
// first MOVED ended the waits of both, so the second found none and
// broke the shard. Both subscribes are held once they checked the slot,
// the slot is moved, and the old master is paused until both SSUBSCRIBEs
// are written, so that its two replies come together.
func TestSlotMovedBeforeTwoSubscribesOfItKeepsShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	src := masters(c)[0]
	dst := otherMaster(c, src)
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	kept := topicOn(t, c, src, "kept")
	moved := twoTopicsOfOneSlot(t, c, src, c.Slot(kept))
	mustSubscribe(t, sub, kept)
	shard := redis.TopicShard(sub.Engine, kept)
	repairs := redis.ShardRepairs(sub.Engine)

	var mu sync.Mutex
	armed, arrived, release := true, 0, make(chan struct{})
	redis.AfterShardFound(sub.Engine, func() {
		mu.Lock()
		if !armed {
			mu.Unlock()
			return
		}
		arrived++
		if arrived < len(moved) {
			mu.Unlock()
			<-release
			return
		}
		armed = false
		mu.Unlock()
		moveSlot(t, c.Slot(moved[0]), src, dst)
		src.Pause() // its two MOVEDs come together, once both SSUBSCRIBEs are written
		close(release)
	})
	var subscribed sync.WaitGroup
	errs := make([]error, len(moved))
	for i, topic := range moved {
		subscribed.Go(func() { errs[i] = sub.Subscribe(ctxFor(t), topic) })
	}
	<-release
	if !eventually(func() bool { return redis.AwaitingConfirmations(sub.Engine) >= len(moved) }) {
		t.Error("the two SSUBSCRIBEs were never written")
	}
	src.Resume()
	subscribed.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Subscribe(%q): %v", moved[i], err)
		}
	}
	if got := redis.TopicShard(sub.Engine, kept); got != shard || redis.ShardEnded(shard) {
		t.Errorf("%s's shard was replaced", kept)
	}
	if got := redis.ShardRepairs(sub.Engine) - repairs; got != 0 {
		t.Errorf("%d shard repairs, want none", got)
	}
	checkDeliveredOn(t, pub, sub, dst, prefix, moved[0], moved[1])
	res := mustPublishEventually(t, pub, kept)
	sub.rec.waitCovered(t, kept, res.Epoch, res.Seq)
}

// twoTopicsOfOneSlot returns two topics of one slot of n other than not.
func twoTopicsOfOneSlot(t *testing.T, c *redistest.Cluster, n *redistest.Node, not int) []string {
	t.Helper()
	bySlot := make(map[int]string)
	for i := range 20000 {
		topic := fmt.Sprintf("twin.t%d", i)
		slot := c.Slot(topic)
		other, ok := bySlot[slot]
		if ok && slot != not && c.MasterOf(slot) == n {
			return []string{other, topic}
		}
		bySlot[slot] = topic
	}
	t.Fatalf("no two topics of one slot of %s", n.Addr())
	return nil
}
