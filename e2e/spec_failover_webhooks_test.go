//go:build unix

package e2e

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

func TestSpecClusterWebhooksAcrossATakeover(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	backend, url := startHookBackend(t, 0)
	env := hooksEnv(cluster.URL(), url)
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	master := cluster.MasterOfKey("herald:{webhooks}")
	webhooksAcrossATakeover(t, backend, a, b, topicOn(t, cluster, "room.w", master), master, func() {
		master.Kill()
		cluster.WaitOK()
	})
}

// webhooksAcrossATakeover: the webhook queue's master dies while a
// member leaves, so that the leave is decided while no master is known;
// once the replica took over, the backend gets it, and the events after
// it, in order per topic, each once (section 11): a node counts a
// report stored only once the replica confirmed it, so one the master
// took just before it died is written again to the new one. What came
// before is in the replica when the master dies (WAIT 1). The outage outlasts the
// nodes' heartbeat lease (five hook timeouts): the sender once counted
// its heartbeats from before it and, first back, took bob's node for
// dead, so that the backend was sent topic_vacated while bob still held
// the topic (about 1 run in 8, when bob's node had set its topics right
// on the new master before that release).
func webhooksAcrossATakeover(t *testing.T, backend *hookBackend, a, b *process, topic string, master *redistest.Node, takeover func()) {
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.subscribe("s", topic)
	bob := wsOpen(t, b.ws+"?mode=ok&user=bob", dialOpts{})
	bob.subscribe("s", topic)
	eventually(t, "the member_added of ada and bob", func() bool { return memberEvents(backend, topic) == "+ada +bob" })
	waitReplicated(t, master.Addr())

	done := make(chan struct{})
	go func() { defer close(done); takeover() }()
	ada.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	<-done
	eventually(t, "ada's member_removed", func() bool { return memberEvents(backend, topic) == "+ada +bob -ada" })
	if got := topicEvents(backend, topic); got != "occupied" {
		t.Errorf("the occupancy events of %s: %s, want occupied", topic, got)
	}
	bob.clientClose()
	eventually(t, topic+" vacated and bob's member_removed", func() bool {
		return topicEvents(backend, topic) == "occupied vacated" && memberEvents(backend, topic) == "+ada +bob -ada -bob"
	})
}

// waitReplicated waits until the master at addr's replica holds all it
// took (WAIT 1), so that a kill after it loses nothing.
func waitReplicated(t *testing.T, addr string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if n, err := c.Do(t.Context(), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on %s = %d, %v", addr, n, err)
	}
}

// hooksEnv is the settings of a node of the failover probes on the Redis
// at redisURL, with the connect hook and the webhooks of the backend at
// hookURL (startHookBackend) and presence on room.*.
func hooksEnv(redisURL, hookURL string) []string {
	return []string{"HERALD_REDIS_URL=" + redisURL, "HERALD_CONNECT_URL=" + hookURL + "/connect",
		"HERALD_WEBHOOK_URL=" + hookURL + "/webhook", "HERALD_WEBHOOK_VACATED_DELAY=100ms",
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*"}
}
