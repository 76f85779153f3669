//go:build unix

package e2e

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// slowTakeoverNodeTimeout is a cluster-node-timeout near Redis's default
// (15 s), with which a dead master's replica took over 18 to 23.4 s after
// its death in 8 runs. Herald meets the 30 s of section 8 when the
// takeover comes within about 24 s (docs/protocol.md section 12), so a
// test with the default itself would fail now and then with Redis's own
// spread; with 12 s the takeover comes 3 s sooner, and still too late for
// a wait of a whole heartbeat lapse (15 s) after it.
const slowTakeoverNodeTimeout = 12 * time.Second

// Section 8 through section 12: a node is SIGKILLed as the master of the
// nodes' heartbeats dies, on a Cluster whose cluster-node-timeout is near
// Redis's default, so that no heartbeat goes through for 15 s or more.
// Within 30 s of its death its members are gone from every answer and
// their leaves were sent; the live node's member, whose heartbeat lapsed
// in the outage too, gets no leave. One of the dead node's topics is on
// the dying master, the other elsewhere.
func TestSpecClusterNodeDeadAsTheHeartbeatsMasterDies(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	for _, n := range cluster.Nodes() {
		setNodeTimeout(t, n.Addr(), slowTakeoverNodeTimeout)
	}
	_, url := startHookBackend(t, 0)
	env := []string{"HERALD_REDIS_URL=" + cluster.URL(), "HERALD_CONNECT_URL=" + url + "/connect",
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*"}
	a, b, c := startProcess(t, "a", env...), startProcess(t, "b", env...), startProcess(t, "c", env...)
	master := cluster.MasterOfKey("herald:presence.nodes")
	topics := []string{topicOn(t, cluster, "room.on", master), ""}
	for i := 0; topics[1] == ""; i++ {
		if name := fmt.Sprint("room.off", i); cluster.MasterOfKey(name) != master {
			topics[1] = name
		}
	}

	watchers := map[string]*client{}
	for _, topic := range topics {
		watchers[topic] = wsOpen(t, b.ws+"?mode=ok&user=w", dialOpts{})
		watchers[topic].cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
		wsOpen(t, a.ws+"?mode=ok&user=eve", dialOpts{}).subscribe("s", topic)
		mustEvent(t, watchers[topic], "join", "eve", topic)
		wsOpen(t, c.ws+"?mode=ok&user=dave", dialOpts{}).subscribe("s", topic)
		mustEvent(t, watchers[topic], "join", "dave", topic)
	}

	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	master.Kill()
	for _, topic := range topics {
		select {
		case f := <-watchers[topic].frames:
			jsonEq(t, topic+" after the kill", f.obj(), fmt.Sprintf(`{"type":"leave","topic":%q,"user":"dave"}`, topic))
			t.Logf("%s: leave %v after the kill", topic, time.Since(killed).Round(time.Millisecond))
		case <-time.After(30*time.Second - time.Since(killed)):
			t.Fatalf("%s: no leave within 30 s of the node's death", topic)
		}
	}
	for _, topic := range topics {
		want := fmt.Sprintf(`{"topic":%q,"users":2,"sessions":2,"members":[{"user":"eve","sessions":1,"info":{"name":"eve"}},{"user":"w","sessions":1,"info":{"name":"w"}}]}`, topic)
		for _, n := range []*process{a, b} {
			_, m := getPresence(t, &n.node, topic)
			jsonEq(t, "presence on "+n.base+" after the node's death", m, want)
		}
		// A live node taken for dead would have its leave sent with the
		// dead one's, and its join right after.
		select {
		case f := <-watchers[topic].frames:
			t.Errorf("%s: after the dead node's leave: %s", topic, f.text)
		case <-time.After(time.Second):
		}
	}
}

// setNodeTimeout sets the cluster-node-timeout of the Redis at addr.
func setNodeTimeout(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.ConfigSet(t.Context(), "cluster-node-timeout", fmt.Sprint(d.Milliseconds())).Err(); err != nil {
		t.Fatal(err)
	}
}
