//go:build unix

package redis_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// A user who comes back while the node that reported its lost join's
// leave is slow to queue that leave's member_removed is never told gone
// after its return: when the return's member_added went first (its wait
// for the leave over), the late member_removed is dropped; when it still
// waits, both go, the leave first. Before, the late member_removed went
// after the member_added, and the backend held the user for gone while it
// was there. On one server and on Cluster, where the topic's slot and the
// queue's differ.
func TestLostJoinsSlowReporterRacingAReturn(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testSlowReporterRacingAReturn)
}

func testSlowReporterRacingAReturn(t *testing.T, url string, masterOf func(key string) string) {
	for _, tc := range []struct {
		name string
		// released: the return's member_added went before the reporter
		// queued the leave; else it still waits for the leave.
		released bool
		want     []string
	}{
		{"return went first", true, []string{"added dave"}},
		{"return waits for the leave", false, []string{"removed dave", "added dave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const topic = "room.slow"
			// The reporter is told the leave and queues it only once dave
			// is back.
			reporter, node, q, leaves := holdDavesLostLeave(t, url, topic)

			// dave comes back before the reporter queues the leave.
			mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
			if tc.released {
				q.release(t, node) // its member_added waited for the leave's, and went
			}
			leaves.queueTheOne(t, q, reporter)

			if got := q.events(t, node); !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
			unqueued := redis.LostJoinsUnqueued(reporter, topic)
			if n := admin(t, masterOf(unqueued)).HLen(ctxFor(t), unqueued).Val(); n != 0 {
				t.Errorf("%d reports left unqueued", n)
			}
			taken := redis.LostJoinsTaken(reporter, topic)
			if ttl := admin(t, masterOf(taken)).PTTL(ctxFor(t), taken).Val(); ttl <= 0 {
				t.Errorf("the users marked on the topic are kept %v, want until their reports end", ttl)
			}
			q.check(t)
		})
	}
}

// loseDavesJoin has holder, which watches no members, add dave to topic
// and remove him, so that nothing of it is queued, and has reporter, with
// no place in the topic's change log, take his join for lost: it fails
// unless reporter reports dave gone.
func loseDavesJoin(t *testing.T, holder, reporter *redis.Engine, topic string) {
	t.Helper()
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, holder, dave)
	if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
		t.Fatal(err)
	}
	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
	}
}

// heldChanges keeps what an engine's member watcher is told, unqueued,
// for the test to queue when it chooses.
type heldChanges struct {
	mu   sync.Mutex
	told []broker.PresenceChange
}

// holdChanges watches e's members, holding what it is told.
func holdChanges(e *redis.Engine) *heldChanges {
	h := &heldChanges{}
	e.WatchMembers(func(ch broker.PresenceChange) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.told = append(h.told, ch)
	})
	return h
}

// queueTheOne queues, by reporter, the one change held: dave's leave. It
// fails unless exactly one was told.
func (h *heldChanges) queueTheOne(t *testing.T, q *memberQueuer, reporter *redis.Engine) {
	t.Helper()
	h.mu.Lock()
	held := slices.Clone(h.told)
	h.mu.Unlock()
	if len(held) != 1 {
		t.Fatalf("the reporter was told %+v, want dave's leave", held)
	}
	q.queueBy(reporter)(held[0])
}

// holdDavesLostLeave starts three engines on url, a reporter, a node
// and a holder, and has the reporter take dave's join on topic for lost
// (loseDavesJoin); it is told his leave and holds it, unqueued, in the
// heldChanges returned, while the node queues by q what it is told.
func holdDavesLostLeave(t *testing.T, url, topic string) (reporter, node *redis.Engine, q *memberQueuer, leaves *heldChanges) {
	t.Helper()
	es, _ := presenceCluster(t, url, 3, testLapse)
	reporter, node, holder := es[0], es[1], es[2]
	q = &memberQueuer{t: t}
	leaves = holdChanges(reporter)
	node.WatchMembers(q.queueBy(node))
	loseDavesJoin(t, holder, reporter, topic)
	return reporter, node, q, leaves
}

// daveBackBeforeHisLeave adds dave to topic again by node, once node can,
// has his member_added go, and then queues his held leave by reporter:
// it fails unless the leave is dropped, and only his return queued.
func daveBackBeforeHisLeave(t *testing.T, topic string, reporter, node *redis.Engine, q *memberQueuer, leaves *heldChanges) {
	t.Helper()
	if !eventually(func() bool {
		return node.AddPresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"}) == nil
	}) {
		t.Fatal("dave never came back")
	}
	q.release(t, node)
	leaves.queueTheOne(t, q, reporter)

	if got, want := q.events(t, node), []string{"added dave"}; !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	q.check(t)
}
