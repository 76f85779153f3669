//go:build unix

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// Sections 8 and 12 on Sentinel: a member joins through a node while the
// master is cut off from its replica, so that the failover to come loses
// the join from Redis after pub/sub carried it to the watcher; the node
// dies, then the master (deadNodeWhoseJoinAFailoverLost). The node that
// dies has the default lapse here, as in production: its registration
// outlives the failover, and the live nodes' checks wait for it to lapse
// before they send the leave, within the 30 s still. (The Cluster test's
// node, of a short lapse, lapses before the failover ends.)
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
	deadNodeWhoseJoinAFailoverLost(t, s.URL(), "room.ld", sentinelOutage(t, s, master, replica), "")
}

// The same on a Redis Cluster, the topic's master cut off and killed.
func TestSpecClusterDeadNodeWhoseJoinAFailoverLost(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	topic := topicOn(t, cluster, "room.ld", nil)
	master := cluster.MasterOfKey(topic)
	deadNodeWhoseJoinAFailoverLost(t, cluster.URL(), topic, clusterOutage(t, cluster, master, replicaOf(t, cluster, master)), dyingNodeLapse)
}

// deadNodeWhoseJoinAFailoverLost: on the Redis at url, dave joins topic
// through node c, and fay through node a, while o has the topic's master
// cut off from its replica; c dies, then the master, and the replica
// takes over without the joins. Within 30 s of c's death the watchers on
// a and b are sent dave's leave, though no node holds dave any more to
// clean up after, and the backend, which had dave's member_added, gets
// his member_removed once, though both nodes sent the leave (section
// 11). Fay, whom live node a adds back, and eve, whose join the replica
// had, are members still: no leave, no member_removed. Node c has the
// presence lapse cLapse ("": the default), a setting of dyingNodeLapse's
// form.
func deadNodeWhoseJoinAFailoverLost(t *testing.T, url, topic string, o outage, cLapse string) {
	backend, hooks := startHookBackend(t, 0)
	env := hooksEnv(url, hooks)
	cEnv := env
	if cLapse != "" {
		cEnv = append(slices.Clip(env), cLapse)
	}
	a, b, c := startProcess(t, "a", env...), startProcess(t, "b", env...), startProcess(t, "c", cEnv...)
	watchers := []*client{wsOpen(t, b.ws+"?mode=ok&user=w", dialOpts{}), wsOpen(t, a.ws+"?mode=ok&user=w2", dialOpts{})}
	for _, w := range watchers {
		w.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	}
	mustEvent(t, watchers[0], "join", "w2", topic)
	joined := func(user string) {
		t.Helper()
		for _, w := range watchers {
			mustEvent(t, w, "join", user, topic)
		}
	}
	wsOpen(t, a.ws+"?mode=ok&user=eve", dialOpts{}).subscribe("s", topic)
	joined("eve")
	o.cut()
	wsOpen(t, a.ws+"?mode=ok&user=fay", dialOpts{}).subscribe("s", topic)
	joined("fay")
	wsOpen(t, c.ws+"?mode=ok&user=dave", dialOpts{}).subscribe("s", topic)
	joined("dave")
	eventually(t, "dave's member_added", func() bool { return membersOf(backend, topic, "dave") == "+dave" })

	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	o.kill()
	o.end()
	for _, w := range watchers {
		select {
		case f := <-w.frames:
			jsonEq(t, "after the kill", f.obj(), fmt.Sprintf(`{"type":"leave","topic":%q,"user":"dave"}`, topic))
			t.Logf("leave %v after the kill", time.Since(killed).Round(time.Millisecond))
		case <-time.After(30*time.Second - time.Since(killed)):
			t.Fatal("no leave within 30 s of the node's death")
		}
	}
	want := fmt.Sprintf(`{"topic":%q,"users":4,"sessions":4,"members":[`+
		`{"user":"eve","sessions":1,"info":{"name":"eve"}},{"user":"fay","sessions":1,"info":{"name":"fay"}},`+
		`{"user":"w","sessions":1,"info":{"name":"w"}},{"user":"w2","sessions":1,"info":{"name":"w2"}}]}`, topic)
	for _, n := range []*process{a, b} {
		_, m := getPresence(t, &n.node, topic)
		jsonEq(t, "presence on "+n.base+" after the node's death", m, want)
	}
	eventually(t, "dave's member_removed", func() bool { return strings.Contains(membersOf(backend, topic, "dave"), "-") })
	for _, w := range watchers {
		select {
		case f := <-w.frames:
			t.Errorf("after dave's leave: %s", f.text)
		case <-time.After(time.Second):
		}
	}
	// The backend may be sent dave's member_added twice: a node that
	// takes the sending over from c knows nothing of what c sent.
	if got := membersOf(backend, topic, "dave"); strings.Count(got, "-") != 1 || !strings.HasSuffix(got, "+dave -dave") {
		t.Errorf("the backend's member events of dave: %s, want his member_removed once, after his member_added", got)
	}
	for _, user := range []string{"eve", "fay"} {
		if got := membersOf(backend, topic, user); strings.Contains(got, "-") {
			t.Errorf("the backend's member events of %s: %s, want no member_removed", user, got)
		}
	}
}

// membersOf is memberEvents of user alone.
func membersOf(backend *hookBackend, topic, user string) string {
	var out []string
	for _, ev := range strings.Fields(memberEvents(backend, topic)) {
		if ev[1:] == user {
			out = append(out, ev)
		}
	}
	return strings.Join(out, " ")
}
