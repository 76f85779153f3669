package redis_test

import (
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A publish that finds its topic's master due for the stamp of its run
// keys (its first script there after a failover or a restart, once the
// node's last check of the master lapsed) has the stamp done first, with
// three timeouts of its own, and its own timeout after, as a subscribe's
// read does (see stampFirst): a stamp of 5,461 slots slowed past the
// timeout by a busy machine failed the publish, and the publishes that
// waited behind it. The node publishes to each master once, then the
// masters' script caches are flushed, as a restart leaves them, and the
// node's checks left to lapse: its next publish to each master checks it,
// and finds it due. The stamps are slowed to one and a half timeouts.
func TestPublishStampsFirst(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	for _, tc := range []struct {
		name       string
		publishers int
	}{
		{"alone", 1},
		{"with others", 8}, // two send their own call, the others wait in pipelines
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, c.URL(), redis.Config{HistorySize: 10})
			topics := topicPerMaster(t, c)
			for _, topic := range topics {
				mustPublish(t, e, request(topic))
			}
			for _, m := range masters(c) {
				do(t, admin(t, m.Addr()), "SCRIPT", "FLUSH")
			}
			redis.SlowStamps(e, 3*testTimeout/2)
			time.Sleep(redis.RecheckEvery) // the node's checks lapse
			for _, topic := range topics {
				var wg sync.WaitGroup
				for i := range tc.publishers {
					wg.Go(func() {
						if _, err := e.Publish(ctxFor(t), request(topic)); err != nil {
							t.Errorf("publish %d to %s, on %s: %v", i, topic, c.MasterOfKey(topic).Addr(), err)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
