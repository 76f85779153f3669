package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testSubscribeBesideStuckRepair loses the link of a node's shard on one
// master and stops that master in the same moment: homing the shard's
// topic again there waits out the timeout, and meanwhile a subscribe to a
// topic of another master returns, and is delivered, without waiting for
// it. The timeout is long so that the order is beyond doubt.
func testSubscribeBesideStuckRepair(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	core, logs := observer.New(zap.DebugLevel)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10, Timeout: 5 * time.Second,
		Logger: zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))})
	pub, sub := nodes[0], nodes[1]
	stuck, master, healthy, _ := awayAndHealthy(t, c, topics, prefix)
	mustSubscribe(t, sub, stuck)
	mustPublish(t, pub, request(stuck))
	sub.rec.waitFor(t, stuck, 1)
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // a stopped master lasts
	loseShardsAndStop(t, master)
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	logged := func(msg string) int {
		return logs.FilterMessage(msg).FilterField(zap.String("master", master.Addr())).Len()
	}
	if !eventually(func() bool { return logged("subscribing topics on their master again") > 0 }) {
		t.Fatal("the node never homed the lost shard's topic again")
	}
	mustSubscribe(t, sub, healthy)
	if logged("cannot subscribe topics on their master; trying again later") > 0 {
		t.Fatalf("subscribing %s, on another master, returned only once homing %s on its stopped master gave up", healthy, stuck)
	}
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 1)
	master.Resume()
	req := request(stuck)
	mustPublish(t, pub, req)
	if got := sub.rec.waitFor(t, stuck, 2); got[1].ID != req.ID {
		t.Fatalf("%s got %s once its master answered again, want %s", stuck, got[1].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}

// loseShardsAndStop kills the sharded pub/sub connections master holds
// and stops it (SIGSTOP) before the nodes can subscribe there again: the
// kill and a pause of every client (which a stopped master outlasts) go
// in one transaction, so the nodes' new connections are not answered.
func loseShardsAndStop(t *testing.T, master *redistest.Node) {
	t.Helper()
	admin := goredis.NewClient(&goredis.Options{Addr: master.Addr()})
	defer admin.Close()
	ids := shardClients(t, admin)
	tx := admin.TxPipeline()
	for _, id := range ids {
		tx.ClientKillByFilter(ctxFor(t), "ID", id)
	}
	tx.Do(ctxFor(t), "CLIENT", "PAUSE", 500, "ALL")
	if _, err := tx.Exec(ctxFor(t)); err != nil {
		t.Fatalf("kill the shard connections of %s and pause it: %v", master.Addr(), err)
	}
	master.Pause()
}

// testSubscribeRightAfterTakeover kills a master that has a replica, and
// has the replica take its slots over: a subscribe to a topic of those
// slots, right then, succeeds, though the node's slot map still names the
// dead master (the node held nothing there, so nothing told it of the
// failover), and the topic is delivered from its new master, published
// through another node whose map names the dead master too.
func testSubscribeRightAfterTakeover(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	topic, master, replica := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node1.{classic.0}"))
	topics := topicPerMaster(t, c)
	other := topics[slices.IndexFunc(topics, func(tp string) bool { return c.MasterOfKey(tp) != master })]
	mustSubscribe(t, sub, other) // the node is at work, but on other masters
	takeOver(t, c, master, replica)
	mustSubscribe(t, sub, topic)
	req := request(topic)
	mustPublish(t, pub, req)
	if got := sub.rec.waitFor(t, topic, 1); got[0].ID != req.ID {
		t.Fatalf("%s got %s, want %s", topic, got[0].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}

// testSubscribeBesideStuckMaster subscribes a topic whose master does not
// answer (stopped), and meanwhile a topic of another master: the second
// subscribe returns, and its topic is delivered, while the first still
// waits for its master. With holding, the node already holds a shard on
// the stuck master, so the first waits for that master to say whether
// the topic's slot is its own (see shardHolding); without, it waits to
// open one there. The timeout is long so that the
// order is beyond doubt.
func testSubscribeBesideStuckMaster(t *testing.T, c *redistest.Cluster, topics []string, holding bool) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10, Timeout: 5 * time.Second})
	pub, sub := nodes[0], nodes[1]
	held, master, healthy, _ := awayAndHealthy(t, c, topics, prefix)
	stuck := anotherTopicOn(t, c, master, held)
	if holding {
		mustSubscribe(t, sub, held)
	}
	mustPublish(t, pub, request(healthy))                   // so that pub has read the slot map
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // a stopped master lasts
	master.Pause()
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	stuckErr := make(chan error, 1)
	go func() { stuckErr <- sub.Subscribe(ctxFor(t), stuck) }()
	if !eventually(func() bool { return redis.AwaitingConfirmations(sub.Engine) > 0 || redis.CheckingSlots(sub.Engine) > 0 }) {
		t.Fatalf("subscribing %s never waited for its stopped master", stuck)
	}
	mustSubscribe(t, sub, healthy)
	select {
	case err := <-stuckErr:
		t.Fatalf("subscribing %s, on another master, returned only once subscribing %s on its stopped master had (%v)", healthy, stuck, err)
	default:
	}
	req := request(healthy)
	mustPublish(t, pub, req)
	if got := sub.rec.waitFor(t, healthy, 1); got[0].ID != req.ID {
		t.Fatalf("%s got %s, want %s", healthy, got[0].ID, req.ID)
	}
	master.Resume()
	if err := <-stuckErr; err != nil {
		if broker.CodeOf(err) != broker.CodeUnavailable {
			t.Fatalf("subscribing %s: %v, want success or unavailable", stuck, err)
		}
		t.Logf("subscribing %s gave up: %v", stuck, err)
		return
	}
	req = request(stuck)
	mustPublish(t, pub, req)
	if got := sub.rec.waitFor(t, stuck, 1); got[0].ID != req.ID {
		t.Fatalf("%s got %s once its master answered again, want %s", stuck, got[0].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}

// anotherTopicOn returns a topic homed on master other than topic.
func anotherTopicOn(t *testing.T, c *redistest.Cluster, master *redistest.Node, topic string) string {
	t.Helper()
	for i := range 1000 {
		if tp := fmt.Sprintf("shard.s%d", i); tp != topic && c.MasterOfKey(tp) == master {
			return tp
		}
	}
	t.Fatalf("no other topic found on %s", master.Addr())
	return ""
}
