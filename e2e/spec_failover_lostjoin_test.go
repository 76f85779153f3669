//go:build unix

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// Sections 8 and 12 on Sentinel: a member joins through a node while the
// master is cut off from its replica, so that the failover to come loses
// the join from Redis after pub/sub carried it to the watcher; the node
// dies, then the master (deadNodeWhoseJoinAFailoverLost).
func TestSpecSentinelDeadNodeWhoseJoinAFailoverLost(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	var master, replica *redistest.Node
	for _, n := range s.Servers() {
		if n.Addr() == s.MasterAddr() {
			master = n
		} else {
			replica = n
		}
	}
	deadNodeWhoseJoinAFailoverLost(t, s.URL(), "room.ld", sentinelOutage(t, s, master, replica))
}

// The same on a Redis Cluster, the topic's master cut off and killed.
func TestSpecClusterDeadNodeWhoseJoinAFailoverLost(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	topic := topicOn(t, cluster, "room.ld", nil)
	master := cluster.MasterOfKey(topic)
	deadNodeWhoseJoinAFailoverLost(t, cluster.URL(), topic, clusterOutage(t, cluster, master, replicaOf(t, cluster, master)))
}

// deadNodeWhoseJoinAFailoverLost: on the Redis at url, dave joins topic
// through node c while o has the topic's master cut off from its
// replica; c dies, then the master, and the replica takes over without
// the join. Within 30 s of c's death the watcher is sent dave's leave,
// though no node holds dave any more to clean up after, and the live
// node's member gets no leave.
func deadNodeWhoseJoinAFailoverLost(t *testing.T, url, topic string, o outage) {
	_, hooks := startHookBackend(t, 0)
	env := []string{"HERALD_REDIS_URL=" + url, "HERALD_CONNECT_URL=" + hooks + "/connect",
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*"}
	a, b, c := startProcess(t, "a", env...), startProcess(t, "b", env...), startProcess(t, "c", env...)
	watcher := wsOpen(t, b.ws+"?mode=ok&user=w", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	wsOpen(t, a.ws+"?mode=ok&user=eve", dialOpts{}).subscribe("s", topic)
	mustEvent(t, watcher, "join", "eve", topic)
	o.cut()
	wsOpen(t, c.ws+"?mode=ok&user=dave", dialOpts{}).subscribe("s", topic)
	mustEvent(t, watcher, "join", "dave", topic)

	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	o.kill()
	o.end()
	select {
	case f := <-watcher.frames:
		jsonEq(t, "after the kill", f.obj(), fmt.Sprintf(`{"type":"leave","topic":%q,"user":"dave"}`, topic))
		t.Logf("leave %v after the kill", time.Since(killed).Round(time.Millisecond))
	case <-time.After(30*time.Second - time.Since(killed)):
		t.Fatal("no leave within 30 s of the node's death")
	}
	want := fmt.Sprintf(`{"topic":%q,"users":2,"sessions":2,"members":[{"user":"eve","sessions":1,"info":{"name":"eve"}},{"user":"w","sessions":1,"info":{"name":"w"}}]}`, topic)
	for _, n := range []*process{a, b} {
		_, m := getPresence(t, &n.node, topic)
		jsonEq(t, "presence on "+n.base+" after the node's death", m, want)
	}
	select {
	case f := <-watcher.frames:
		t.Errorf("after dave's leave: %s", f.text)
	case <-time.After(time.Second):
	}
}
