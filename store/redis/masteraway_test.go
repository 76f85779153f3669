package redis_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testMasterAway stops one master of c, as a master stuck in a long
// command or a frozen host: it answers nothing, and every call to it times
// out. The topics of the other masters are still checked, and what pub/sub
// lost of them comes from history meanwhile; the stuck master's topic is
// checked again once it answers. topics has a topic on each master of c
// but one at most. cfg sets the timeout and the check interval.
func testMasterAway(t *testing.T, c *redistest.Cluster, topics []string, cfg redis.Config) {
	prefix := uniquePrefix(t)
	cfg.Prefix, cfg.HistorySize = prefix, 10
	nodes := clusterNodes(t, c, 2, cfg)
	pub, sub := nodes[0], nodes[1]
	stuck, master, healthy, other := awayAndHealthy(t, c, topics, prefix)
	for _, topic := range []string{stuck, healthy} {
		mustSubscribe(t, sub, topic)
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	// A stuck master lasts: the others do not take it for dead while the
	// test runs, whatever the machine's load.
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	// The periodic check reads the topics with recent traffic (and those
	// it owes): each topic has some when pub/sub loses its next message.
	release := holdChecks(t, sub.Engine)
	mustPublish(t, pub, request(stuck))
	sub.rec.waitFor(t, stuck, 2)
	lostStuck := injectAt(t, master.Addr(), prefix, stuck)
	master.Pause()
	t.Cleanup(master.Resume) // before the cluster's settings are put back
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 2)
	lost := injectAt(t, other.Addr(), prefix, healthy)
	release()
	got := sub.rec.waitFor(t, healthy, 3)
	if got[2].ID != lost.ID {
		t.Fatalf("%s got %s while another master was stuck, want the lost %s", healthy, got[2].ID, lost.ID)
	}
	master.Resume()
	got = sub.rec.waitFor(t, stuck, 3)
	if got[2].ID != lostStuck.ID {
		t.Fatalf("%s got %s once its master answered again, want the lost %s", stuck, got[2].ID, lostStuck.ID)
	}
	sub.rec.checkBreaches(t)
}

// testClassicMasterAway stops the master the node's classic connection
// is on (its first probe channel's): that connection, and with it every
// other, is replaced, the classic one on another master, and the topics
// of the other masters are delivered and checked again.
func testClassicMasterAway(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		Timeout: 300 * time.Millisecond, CheckInterval: time.Second})
	pub, sub := nodes[0], nodes[1]
	classic := c.MasterOfKey(prefix + "probe.node1.{classic.0}")
	i := slices.IndexFunc(topics, func(topic string) bool { return c.MasterOfKey(topic) != classic })
	healthy, other := topics[i], c.MasterOfKey(topics[i])
	mustSubscribe(t, sub, healthy)
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 1)
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	release := holdChecks(t, sub.Engine)
	classic.Pause()
	t.Cleanup(classic.Resume)
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 2)
	lost := injectAt(t, other.Addr(), prefix, healthy)
	release()
	got := sub.rec.waitFor(t, healthy, 3)
	if got[2].ID != lost.ID {
		t.Fatalf("%s got %s while the classic connection's master was stuck, want the lost %s", healthy, got[2].ID, lost.ID)
	}
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 4)
	sub.rec.checkBreaches(t)
}

// testReplayWithMasterAway has a node read the presence change logs of
// two topics while the master of one is stuck: the other's is read all
// the same, and only the stuck one's waits.
func testReplayWithMasterAway(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	core, logs := observer.New(zap.WarnLevel)
	nodes := clusterNodes(t, c, 1, redis.Config{Prefix: prefix, Timeout: 300 * time.Millisecond,
		CheckInterval: time.Second, Logger: zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))})
	sub := nodes[0]
	stuck, master, healthy, _ := awayAndHealthy(t, c, topics, prefix)
	for _, topic := range []string{stuck, healthy} {
		mustSubscribe(t, sub, topic)
	}
	if n := redis.ChangeMarks(sub.Engine); n != 2 {
		t.Fatalf("the node keeps a place in %d change logs, want 2", n)
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	master.Pause()
	t.Cleanup(master.Resume)
	redis.MarkBehind(sub.Engine, stuck, healthy)
	const warning = "cannot read presence change logs:"
	if !eventually(func() bool { return logs.FilterMessageSnippet(warning).Len() > 0 }) {
		t.Fatal("a change log left unread for longer than a check interval was not logged at Warn")
	}
	entry := logs.FilterMessageSnippet(warning).All()[0]
	if n := entry.ContextMap()["topics"]; n != int64(1) {
		t.Errorf("%v change logs left unread, want 1: the one on the stuck master", n)
	}
}

// testMasterDead kills one master of c, and starts it again only once the
// node has shown that the topics of the other masters are still delivered,
// and what pub/sub lost of them still comes from history: the topics of
// the dead master cost only themselves while their connection cannot be
// replaced, and are subscribed again once it is back. It must run last:
// the master comes back empty.
func testMasterDead(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		Timeout: 300 * time.Millisecond, CheckInterval: time.Second})
	pub, sub := nodes[0], nodes[1]
	dead, master, healthy, other := awayAndHealthy(t, c, topics, prefix)
	for _, topic := range []string{dead, healthy} {
		mustSubscribe(t, sub, topic)
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	// The others do not take it for failed (which, without a replica,
	// would stop the whole cluster) while the test runs.
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	release := holdChecks(t, sub.Engine)
	master.Kill()
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 2)
	lost := injectAt(t, other.Addr(), prefix, healthy)
	release()
	got := sub.rec.waitFor(t, healthy, 3)
	if got[2].ID != lost.ID {
		t.Fatalf("%s got %s while another master was dead, want the lost %s", healthy, got[2].ID, lost.ID)
	}
	master.Restart()
	c.WaitOK()
	var req = request(dead)
	if !eventually(func() bool { // the publisher's first tries may meet the old connections
		_, err := pub.Publish(ctxFor(t), req)
		return err == nil
	}) {
		t.Fatalf("no publish to %s accepted once its master was back", dead)
	}
	got = sub.rec.waitFor(t, dead, 2)
	if got[1].ID != req.ID {
		t.Fatalf("%s got %s once its master was back, want %s", dead, got[1].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}

// testTakeoverAfterDeadMaster kills a master of c that has a replica,
// and has the replica take its slots over only once the node has shown
// that the other masters' topics are still delivered and checked; the
// dead master's topic is subscribed again on the replica then. The
// cluster does not take the master for failed meanwhile, so that only the
// test decides when its slots move.
func testTakeoverAfterDeadMaster(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10,
		Timeout: 300 * time.Millisecond, CheckInterval: time.Second})
	pub, sub := nodes[0], nodes[1]
	classic := c.MasterOfKey(prefix + "probe.node1.{classic.0}")
	topics := topicPerMaster(t, c)
	var dead, healthy string
	var master, replica, other *redistest.Node
	for _, topic := range topics {
		m := c.MasterOfKey(topic)
		if r := replicaOf(t, c, m); dead == "" && m != classic && r != nil {
			dead, master, replica = topic, m, r
		}
	}
	if dead == "" {
		t.Fatal("no master with a replica but the classic connection's")
	}
	i := slices.IndexFunc(topics, func(topic string) bool { return c.MasterOfKey(topic) != master })
	healthy, other = topics[i], c.MasterOfKey(topics[i])
	for _, topic := range []string{dead, healthy} {
		mustSubscribe(t, sub, topic)
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	setClusterConfig(t, c, "cluster-node-timeout", "60000")
	release := holdChecks(t, sub.Engine)
	master.Kill()
	mustPublish(t, pub, request(healthy))
	sub.rec.waitFor(t, healthy, 2)
	lost := injectAt(t, other.Addr(), prefix, healthy)
	release()
	if got := sub.rec.waitFor(t, healthy, 3); got[2].ID != lost.ID {
		t.Fatalf("%s got %s while another master was dead, want the lost %s", healthy, got[2].ID, lost.ID)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: replica.Addr()})
	defer admin.Close()
	if err := admin.Do(ctxFor(t), "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER TAKEOVER on %s: %v", replica.Addr(), err)
	}
	c.WaitOK()
	req := request(dead)
	if !eventually(func() bool { // the publisher's first tries may meet the dead master
		_, err := pub.Publish(ctxFor(t), req)
		return err == nil
	}) {
		t.Fatalf("no publish to %s accepted once its replica took over", dead)
	}
	got := sub.rec.waitFor(t, dead, 2)
	if got[len(got)-1].ID != req.ID {
		t.Fatalf("%s got %s last once its replica took over, want %s", dead, got[len(got)-1].ID, req.ID)
	}
	sub.rec.checkBreaches(t)
}

// replicaOf is a running replica of master in c, or nil.
func replicaOf(t testing.TB, c *redistest.Cluster, master *redistest.Node) *redistest.Node {
	t.Helper()
	for _, n := range c.Nodes() {
		if n.Running() && info(t, n, "replication")["master_port"] == strconv.Itoa(port(master)) {
			return n
		}
	}
	return nil
}

// awayAndHealthy picks, of topics, one whose master is to stop answering,
// and another on another master. Not the master the node1's classic
// connection is on (its probe channel's): losing that one costs every
// topic. An earlier test may have moved a slot: the topics' masters are
// asked, not assumed.
func awayAndHealthy(t *testing.T, c *redistest.Cluster, topics []string, prefix string) (away string, awayMaster *redistest.Node, healthy string, healthyMaster *redistest.Node) {
	t.Helper()
	classic := c.MasterOfKey(prefix + "probe.node1.{classic.0}")
	i := slices.IndexFunc(topics, func(topic string) bool { return c.MasterOfKey(topic) != classic })
	away, awayMaster = topics[i], c.MasterOfKey(topics[i])
	j := slices.IndexFunc(topics, func(topic string) bool { return c.MasterOfKey(topic) != awayMaster })
	return away, awayMaster, topics[j], c.MasterOfKey(topics[j])
}

// setClusterConfig sets a parameter on every running node of c, and back
// to what it was when the test ends on those still running (a node
// started again has its own).
func setClusterConfig(t *testing.T, c *redistest.Cluster, param, value string) {
	t.Helper()
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		rdb := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		was, err := rdb.ConfigGet(ctxFor(t), param).Result()
		if err == nil {
			err = rdb.ConfigSet(ctxFor(t), param, value).Err()
		}
		rdb.Close()
		if err != nil {
			t.Fatalf("CONFIG SET %s on %s: %v", param, n.Addr(), err)
		}
		t.Cleanup(func() {
			if !n.Running() {
				return
			}
			rdb := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
			defer rdb.Close()
			if err := rdb.ConfigSet(ctxFor(t), param, was[param]).Err(); err != nil {
				t.Errorf("CONFIG SET %s back on %s: %v", param, n.Addr(), err)
			}
		})
	}
}
