package redis_test

import (
	"slices"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// takeoverTimeout is the publish timeout of the tests of publishes right
// after a takeover, which hold that every publish is taken, not how soon:
// a publish to the slots taken over is sent again until its timeout, and
// on a busy machine the default's 2 s ran out before the node found the
// new master (32 publishers, each refused "may have been applied").
const takeoverTimeout = 4 * waitTimeout

// testPublishRightAfterTakeover kills a master that has a replica and has
// the replica take its slots over: a publish to a topic of those slots,
// once the replica says it is master, is accepted, though the node's
// slot map still names the dead master (the node held nothing there, so
// nothing told it of the failover). Its one message is in history once.
func testPublishRightAfterTakeover(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	pub := newEngine(t, c.URL(), redis.Config{Prefix: prefix, HistorySize: 10, NodeID: "node0", Timeout: takeoverTimeout})
	topic, master, replica := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node0.{classic.0}"))
	for _, tp := range topicPerMaster(t, c) { // the node at work, on the other masters only
		if c.MasterOfKey(tp) != master {
			mustPublish(t, pub, request(tp))
		}
	}
	takeOver(t, c, master, replica)
	req := request(topic)
	if _, err := pub.Publish(ctxFor(t), req); err != nil {
		t.Fatalf("publish to %s once its replica took over: %v", topic, err)
	}
	wantHistoryOf(t, pub, topic, []string{req.ID})
}

// testPublishesRightAfterTakeover is testPublishRightAfterTakeover with
// publishers at once, to the topic of the slots taken over and to topics
// of the other masters: their calls share pipelines, and every publish is
// accepted, once.
func testPublishesRightAfterTakeover(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	pub := newEngine(t, c.URL(), redis.Config{Prefix: prefix, HistorySize: 1000, NodeID: "node0", Timeout: takeoverTimeout})
	topic, master, replica := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node0.{classic.0}"))
	topics := topicPerMaster(t, c)
	for _, tp := range topics {
		if c.MasterOfKey(tp) != master {
			mustPublish(t, pub, request(tp))
		}
	}
	takeOver(t, c, master, replica)
	const publishers, each = 32, 8
	ids := make([][]string, publishers) // of topic's messages, by publisher
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				tp := topics[(p+i)%len(topics)]
				req := request(tp)
				if _, err := pub.Publish(ctxFor(t), req); err != nil {
					t.Errorf("publisher %d: publish to %s once %s's replica took over: %v", p, tp, topic, err)
					return
				}
				if tp == topic {
					ids[p] = append(ids[p], req.ID)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	trips, calls := redis.PublishRoundTrips(pub)
	t.Logf("%d publish calls in %d round trips", calls, trips)
	wantHistoryOf(t, pub, topic, slices.Concat(ids...))
}

// topicWithReplica returns a topic whose master has a replica, and is not
// one of avoid (the masters of connections the node holds), with both.
func topicWithReplica(t *testing.T, c *redistest.Cluster, avoid ...*redistest.Node) (string, *redistest.Node, *redistest.Node) {
	t.Helper()
	for _, topic := range topicPerMaster(t, c) {
		m := c.MasterOfKey(topic)
		if r := replicaOf(t, c, m); r != nil && !slices.Contains(avoid, m) {
			return topic, m, r
		}
	}
	t.Fatal("no master with a replica but the node's")
	return "", nil, nil
}

// takeOver kills master and has replica take its slots over, by hand (a
// master killed lasts: only the test fails it over), and returns once
// replica says it is master. The killed master is started again when the
// test ends, to come back as the new master's replica.
func takeOver(t *testing.T, c *redistest.Cluster, master, replica *redistest.Node) {
	t.Helper()
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	master.Kill()
	t.Cleanup(func() { master.Restart(); c.WaitOK() })
	admin := goredis.NewClient(&goredis.Options{Addr: replica.Addr()})
	defer admin.Close()
	if err := admin.Do(ctxFor(t), "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER TAKEOVER on %s: %v", replica.Addr(), err)
	}
	if !eventually(func() bool {
		role, err := admin.Do(ctxFor(t), "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master"
	}) {
		t.Fatalf("%s never became master", replica.Addr())
	}
}

// wantHistoryOf fails unless topic's history holds exactly the messages
// ids names, each once, whatever their order.
func wantHistoryOf(t *testing.T, e *redis.Engine, topic string, ids []string) {
	t.Helper()
	h, err := e.History(ctxFor(t), topic, 0, 0)
	if err != nil {
		t.Fatalf("History(%s): %v", topic, err)
	}
	var got []string
	for _, m := range h.Messages {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Fatalf("%s's history holds %d messages %v, want %d %v", topic, len(got), got, len(want), want)
	}
}
