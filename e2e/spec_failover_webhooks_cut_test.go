//go:build unix

package e2e

// Section 11: a failover of the webhook queue's master loses no event
// queued while its replica was cut off, when the cut is short.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// On Cluster, the {webhooks} master dies with member events queued while
// the backend refused every batch and the master was cut off from its
// replica; the topic's presence is on another master and is not lost.
// The nodes counted none of them stored, as no replica confirmed them,
// and wrote them again to the new master: the backend gets them all.
// Before a replica had to confirm them it got only the events it took
// before the cut (2 runs of 2).
func TestSpecClusterWebhooksThroughALossyFailover(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	backend, url := startHookBackend(t, 0)
	env := hooksEnv(cluster.URL(), url)
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	master := cluster.MasterOfKey("herald:{webhooks}")
	topic := ""
	for i := 0; topic == ""; i++ {
		if name := fmt.Sprint("room.q", i); cluster.MasterOfKey(name) != master {
			topic = name
		}
	}
	webhooksQueuedThroughALossyFailover(t, backend, a, b, topic, clusterOutage(t, cluster, master, replicaOf(t, cluster, master)))
}

// webhooksQueuedThroughALossyFailover: on Cluster the webhook queue has a
// master of its own ({webhooks}), apart from the topic's. Users join and
// leave a topic while the backend fails every batch and the queue's
// master is cut off from its replica; the master dies, its replica takes
// over without those events. The topic's presence was not lost (another
// master keeps it), yet the backend, once it answers again, gets every
// member event, each once, in order (section 11: never lost). The cut
// lasts about a second, under the 2 s a node waits for a replica to
// confirm a report: past them the reports are taken unconfirmed, and a
// failover may lose them (a double failure, section 11).
func webhooksQueuedThroughALossyFailover(t *testing.T, backend *hookBackend, a, b *process, topic string, o outage) {
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.subscribe("s", topic)
	eventually(t, "ada's member_added", func() bool { return takenMemberEvents(backend, topic) == "+ada" })

	backend.setFailing(true)
	o.cut()
	for _, user := range []string{"bob", "carl"} {
		c := wsOpen(t, b.ws+"?mode=ok&user="+user, dialOpts{})
		c.subscribe("s", topic)
		time.Sleep(300 * time.Millisecond) // the events in batches of their own
	}
	ada.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	time.Sleep(300 * time.Millisecond)
	o.kill()
	o.end()
	backend.setFailing(false)
	want := "+ada +bob +carl -ada"
	deadline := time.Now().Add(30 * time.Second)
	for takenMemberEvents(backend, topic) != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := takenMemberEvents(backend, topic); got != want {
		t.Errorf("the member events of %s the backend took: %q, want %q", topic, got, want)
	}
}

// takenMemberEvents lists the member events of topic in batches the
// backend answered 2xx, +user for member_added and -user for
// member_removed.
func takenMemberEvents(backend *hookBackend, topic string) string {
	var out []string
	for _, ev := range backend.taken() {
		if ev["topic"] != topic {
			continue
		}
		switch ev["name"] {
		case "member_added":
			out = append(out, fmt.Sprint("+", ev["user"]))
		case "member_removed":
			out = append(out, fmt.Sprint("-", ev["user"]))
		}
	}
	return strings.Join(out, " ")
}
