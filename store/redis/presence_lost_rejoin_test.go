//go:build unix

package redis_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// A user who comes back while the cleanup after a dead reporter is
// between its read that the user is not listed and its queueing of the
// user's lost join's leave is never told gone after its return: when the
// return's member_added went first, the late member_removed is dropped;
// when it is queued second, or first but still waiting for the leave,
// both go, the leave first. Before, the cleanup queued the leave after
// the member_added, and the backend held the user for gone while it was
// there. On one server and on Cluster, where the topic's slot and the
// queue's differ.
func TestLostJoinsTakeOverRacingAReturn(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testTakeOverRacingAReturn)
}

func testTakeOverRacingAReturn(t *testing.T, url string, masterOf func(key string) string) {
	for _, tc := range []struct {
		name string
		// joinFirst: the return's member_added is queued while the
		// cleanup pauses, and went (released: its wait for the leave's
		// over) or waits; else it is queued once the cleanup queued the
		// leave.
		joinFirst, released bool
		want                []string
	}{
		{"return went first", true, true, []string{"added dave"}},
		{"return waits for the leave", true, false, []string{"removed dave", "added dave"}},
		{"leave queued first", false, false, []string{"removed dave", "added dave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const topic = "room.back"
			es, _ := presenceCluster(t, url, 3, testLapse)
			reporter, node, holder := es[0], es[1], es[2]
			q := &memberQueuer{t: t}
			reporter.WatchMembers(q.told) // it dies before queueing
			// The node both cleans up after the reporter and takes dave's
			// return.
			var mu sync.Mutex
			var joins []broker.PresenceChange
			node.WatchMembers(func(c broker.PresenceChange) {
				if c.Join && !tc.joinFirst {
					mu.Lock()
					defer mu.Unlock()
					joins = append(joins, c) // queued below, by hand
					return
				}
				q.queueBy(node)(c)
			})
			// dave's join and ordinary leave are made by a node that
			// watches no members, so nothing of them is queued, and that
			// leaves before the reporter dies, so that it does not clean up
			// after it (it would drop the report, having no watcher). The
			// reporter, with no place in the topic's change log, takes the
			// join for lost.
			dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
			mustAdd(t, holder, dave)
			if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
				t.Fatal(err)
			}
			if err := holder.Close(ctxFor(t)); err != nil {
				t.Fatal(err)
			}
			sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
			if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
				t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
			}
			q.wait(t)

			paused, resume := pauseTakeOver(t, node)
			life := redis.PresenceLife(reporter)
			redis.Die(reporter)
			select {
			case <-paused:
			case <-time.After(waitTimeout):
				t.Fatal("the cleanup never took over the reporter's report")
			}
			// dave comes back while the cleanup pauses.
			mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
			if tc.released {
				q.release(t, node) // its member_added waited for the leave's, and went
			}
			resume()

			nodes := admin(t, masterOf(redis.PresenceNodes(reporter)))
			if !eventually(func() bool {
				return nodes.ZScore(ctxFor(t), redis.PresenceNodes(reporter), life).Err() == goredis.Nil
			}) {
				t.Fatal("the reporter's life was never cleaned up after")
			}
			unqueued := redis.LostJoinsUnqueued(reporter, topic)
			slot := admin(t, masterOf(unqueued))
			if !eventually(func() bool { return slot.HLen(ctxFor(t), unqueued).Val() == 0 }) {
				t.Fatalf("reports left unqueued: %v", slot.HGetAll(ctxFor(t), unqueued).Val())
			}
			if !tc.joinFirst {
				mu.Lock()
				held := slices.Clone(joins)
				mu.Unlock()
				if len(held) != 1 {
					t.Fatalf("the node was told the joins %+v, want dave's", held)
				}
				q.queueBy(node)(held[0])
			}
			if got := q.events(t, node); !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
			q.check(t)
		})
	}
}

// pauseTakeOver has e pause once it took over a dead node's reports,
// before it queues their member events, until resume (or the test's end;
// waitTimeout at most). paused receives the topic.
func pauseTakeOver(t *testing.T, e *redis.Engine) (paused <-chan string, resume func()) {
	t.Helper()
	at := make(chan string, 1)
	done := make(chan struct{})
	var once sync.Once
	resume = func() { once.Do(func() { close(done) }) }
	redis.PauseTakeOver(e, func(topic string) {
		select {
		case at <- topic:
		default:
		}
		select {
		case <-done:
		case <-time.After(waitTimeout):
		}
	})
	t.Cleanup(func() {
		redis.PauseTakeOver(e, nil)
		resume()
	})
	return at, resume
}
