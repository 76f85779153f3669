//go:build unix

package redis_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testRejoinedMasterStampsAgain has a master the engine stamped step down
// to its replica (CLUSTER FAILOVER), take a full copy of the new master's
// data (the topic's mark and run, and the run keys, with it), and take
// its slots back when the new master dies with a message it acknowledged
// and never passed on. Its process still holds the marker of its first
// term as master, but what its data says of the topic is the dead
// master's: the topic must start a new epoch there, not give the lost
// message's seq again in its epoch.
func testRejoinedMasterStampsAgain(t *testing.T, c *redistest.Cluster) {
	setClusterConfig(t, c, "cluster-node-timeout", "60000") // only the test fails masters over
	prefix := uniquePrefix(t)
	pub := newEngine(t, c.URL(), redis.Config{Prefix: prefix, HistorySize: 10, NodeID: "node0"})
	topic, a, b := topicWithReplica(t, c, c.MasterOfKey(prefix+"probe.node0.{classic.0}"))
	first := publishOnceBack(t, pub, topic) // a stamps its slots, and holds the marker
	handOver(t, a, b)
	publishOnceBack(t, pub, topic)
	onB := publishOnceBack(t, pub, topic)
	if onB.Epoch == first.Epoch {
		t.Fatalf("the publishes after the handover went on in a's epoch: %+v", onB)
	}
	resyncFully(t, a, b, "{"+topic+"}gap")

	a.Pause() // what b acknowledges next stays in its memory, and dies with it (see testFailover)
	do(t, admin(t, b.Addr()), "SET", "{"+topic+"}filler", strings.Repeat("x", 32<<20))
	lost := publishOnceBack(t, pub, topic)
	b.Kill()
	a.Resume()
	takeOver(t, c, b, a)
	time.Sleep(redis.RecheckEvery) // the engine's connections to a from its first term check it again
	next := publishOnceBack(t, pub, topic)
	if next.Epoch == lost.Epoch {
		t.Fatalf("the first publish after a took its slots back got seq %d of epoch %s, in which b acknowledged seq %d",
			next.Seq, next.Epoch, lost.Seq)
	}
}

// handOver has replica take its master's slots over (CLUSTER FAILOVER
// TAKEOVER, as nothing is written meanwhile), master alive and made its replica, and returns once both say
// so and the link between them is up.
func handOver(t *testing.T, master, replica *redistest.Node) {
	t.Helper()
	do(t, admin(t, replica.Addr()), "CLUSTER", "FAILOVER", "TAKEOVER") // no election: nothing to wait for
	if !eventually(func() bool {
		r := info(t, master, "replication")
		return r["role"] == "slave" && r["master_port"] == strconv.Itoa(port(replica)) && r["master_link_status"] == "up" &&
			info(t, replica, "replication")["role"] == "master"
	}) {
		t.Fatalf("%s never handed its slots over to %s", master.Addr(), replica.Addr())
	}
}

// resyncFully has replica take a full copy of master's data: its link
// cut while it is stopped, and more written meanwhile (to key) than
// master's backlog holds, it cannot take the rest alone.
func resyncFully(t *testing.T, replica, master *redistest.Node, key string) {
	t.Helper()
	a := admin(t, master.Addr())
	full := info(t, master, "stats")["sync_full"]
	backlog, err := strconv.Atoi(info(t, master, "replication")["repl_backlog_size"])
	if err != nil {
		t.Fatalf("repl_backlog_size of %s: %v", master.Addr(), err)
	}
	replica.Pause()
	do(t, a, "CLIENT", "KILL", "TYPE", "replica")
	do(t, a, "SET", key, strings.Repeat("x", 2*backlog))
	replica.Resume()
	if !eventually(func() bool {
		return info(t, master, "stats")["sync_full"] != full && info(t, replica, "replication")["master_link_status"] == "up"
	}) {
		t.Fatalf("%s never took a full copy of %s's data", replica.Addr(), master.Addr())
	}
}
