package redis_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A burst of subscribes to topics of a master the node holds no shard on
// opens one shard there, not one a subscribe: each shard subscribes its
// probe channel once, so the master runs one SSUBSCRIBE more than the
// topics'. Without the wait for the shard being opened, 50 subscribes
// opened 29 to 50 shards, each a connection to the master.
func TestBurstOfSubscribesOpensOneShard(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	sub := clusterNodes(t, c, 1, redis.Config{HistorySize: 10})[0]
	master := masters(c)[0]
	var topics []string
	for i := 0; len(topics) < 50; i++ {
		if topic := fmt.Sprintf("burst.t%d", i); c.MasterOfKey(topic) == master {
			topics = append(topics, topic)
		}
	}
	// The node's first subscribe reads the control stream under the
	// lock every subscribe takes first: not in the burst.
	for i := 0; ; i++ {
		if topic := fmt.Sprintf("warm.t%d", i); c.MasterOfKey(topic) != master {
			mustSubscribe(t, sub, topic)
			break
		}
	}
	before := redistest.CommandCalls(t, master.Addr(), "ssubscribe")
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	for _, topic := range topics {
		wg.Go(func() {
			if err := sub.Subscribe(ctx, topic); err != nil {
				t.Errorf("subscribe %s: %v", topic, err)
			}
		})
	}
	wg.Wait()
	if opened := redistest.CommandCalls(t, master.Addr(), "ssubscribe") - before - len(topics); opened != 1 {
		t.Errorf("%d subscribes opened %d shards on their master, want 1", len(topics), opened)
	}
}
