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
			es, _ := presenceCluster(t, url, 3, testLapse)
			reporter, node, holder := es[0], es[1], es[2]
			q := &memberQueuer{t: t}
			// The reporter is told the leave and queues it only once dave
			// is back.
			var mu sync.Mutex
			var leaves []broker.PresenceChange
			reporter.WatchMembers(func(c broker.PresenceChange) {
				mu.Lock()
				defer mu.Unlock()
				leaves = append(leaves, c)
			})
			node.WatchMembers(q.queueBy(node))
			// dave's join and ordinary leave are made by a node that
			// watches no members, so nothing of them is queued; the
			// reporter, with no place in the topic's change log, takes
			// the join for lost.
			dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
			mustAdd(t, holder, dave)
			if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
				t.Fatal(err)
			}
			sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
			if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
				t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
			}

			// dave comes back before the reporter queues the leave.
			mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
			if tc.released {
				q.release(t, node) // its member_added waited for the leave's, and went
			}
			mu.Lock()
			held := slices.Clone(leaves)
			mu.Unlock()
			if len(held) != 1 {
				t.Fatalf("the reporter was told %+v, want dave's leave", held)
			}
			q.queueBy(reporter)(held[0])

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
