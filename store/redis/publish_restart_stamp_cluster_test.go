package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A publish to a master restarted within the node's last check of it
// (RecheckEvery), which stampFirst takes as stamped, has the stamp of its
// run keys done on the new connection the publish opens, and waits for it
// on the stamp's own budget, then is sent with its own timeout: the stamp
// ran in the publish's timeout, and a machine busy enough to slow it past
// that failed the publish ("the new connection could not note its Redis
// run: context deadline exceeded"). The masters' script caches are
// flushed and the node's connections killed, as a restart leaves them,
// and the stamps slowed to one and a half timeouts.
func TestPublishStampsFirstRightAfterRestart(t *testing.T) {
	t.Parallel()
	testStampsFirstRightAfterRestart(t, func(e *redis.Engine, topic, _ string) error {
		_, err := e.Publish(ctxFor(t), request(topic))
		return err
	})
}

// So does a subscribe's read of where its topic stands, its first script
// on the master.
func TestSubscribeStampsFirstRightAfterRestart(t *testing.T) {
	t.Parallel()
	testStampsFirstRightAfterRestart(t, func(e *redis.Engine, _, fresh string) error {
		return e.Subscribe(ctxFor(t), fresh)
	})
}

// testStampsFirstRightAfterRestart has e call, right after a restart, a
// topic of each master it published to before, or a fresh one there.
func testStampsFirstRightAfterRestart(t *testing.T, call func(e *redis.Engine, topic, fresh string) error) {
	c := redistest.StartCluster(t, 3, 0)
	e := newEngine(t, c.URL(), redis.Config{HistorySize: 10})
	topics := topicPerMaster(t, c)
	for _, topic := range topics {
		mustPublish(t, e, request(topic))
	}
	for _, m := range masters(c) {
		a := admin(t, m.Addr())
		do(t, a, "SCRIPT", "FLUSH")
		do(t, a, "CLIENT", "KILL", "TYPE", "normal")
	}
	redis.SlowStamps(e, 3*testTimeout/2)
	for _, topic := range topics {
		fresh := topicOn(t, c, c.MasterOfKey(topic), "restart.fresh")
		if err := call(e, topic, fresh); err != nil {
			t.Errorf("%s, on %s: %v", topic, c.MasterOfKey(topic).Addr(), err)
		}
	}
}

// A stamp of a master's run keys goes on when the call that found it due
// gives up, and the next call waits for it: abandoned, it was begun again
// by the next call, in that call's time, so a stamp slower than one
// timeout was done only by a call with more (stampFirst's), and callers
// with their one timeout (a heartbeat, a rebase) failed until one came.
// The stamp is counted by the master's CLUSTER NODES calls, one a stamp.
func TestStampOutlivesTheCallThatFoundItDue(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	e := newEngine(t, c.URL(), redis.Config{HistorySize: 10})
	topic := topicPerMaster(t, c)[0]
	master := c.MasterOfKey(topic)
	mustPublish(t, e, request(topic))
	do(t, admin(t, master.Addr()), "SCRIPT", "FLUSH")
	redis.SlowStamps(e, 3*testTimeout/2)
	time.Sleep(redis.RecheckEvery) // the node's checks lapse
	before := redistest.CommandCalls(t, master.Addr(), "cluster|nodes")
	short, cancel := context.WithTimeout(ctxFor(t), testTimeout/2)
	_, _ = e.Publish(short, request(topic)) // gives up before the stamp is done, unless another call began it
	cancel()
	mustPublish(t, e, request(topic))
	if got := redistest.CommandCalls(t, master.Addr(), "cluster|nodes") - before; got != 1 {
		t.Errorf("%d stamps of the master tried, want 1", got)
	}
}
