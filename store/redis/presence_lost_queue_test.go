//go:build unix

package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The member_removed of a lost join's leave is queued even when the node
// that reported the leave died before it queued the event: the node that
// cleans up after it queues it, in the topic's order, once. Before, the
// other nodes' checks found the leave reported and reported nothing, and
// the event was never queued. A reporter that queued the event and died
// before it noted so has the event queued once all the same, and the
// event of a user back on the topic by then is not queued (it would tell
// the backend the user left while it is there). On one server and on
// Cluster, where the queue and the topic are in different slots.
func TestLostJoinsLeaveOfADeadReporterIsQueued(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testLostLeaveOfADeadReporter)
}

// onOneServerAndCluster runs test, in parallel, against one redis-server
// and against a 3-master Redis Cluster, where a topic's keys and the
// webhook queue's are in different slots. masterOf names the address of
// the server that holds key.
func onOneServerAndCluster(t *testing.T, test func(t *testing.T, url string, masterOf func(key string) string)) {
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		test(t, srv.URL(), func(string) string { return srv.Addr() })
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := redistest.StartCluster(t, 3, 0)
		test(t, c.URL(), func(key string) string { return c.MasterOfKey(key).Addr() })
	})
}

func testLostLeaveOfADeadReporter(t *testing.T, url string, masterOf func(key string) string) {
	for _, tc := range []struct {
		name string
		// queued: the reporter queued the event before it died, but did
		// not note so; back: the user came back before the cleanup.
		queued, back bool
		want         []string
	}{
		{"died before queueing", false, false, []string{"added dave", "removed dave"}},
		{"died before noting it queued", true, false, []string{"added dave", "removed dave"}},
		{"died before queueing, user back", false, true, []string{"added dave", "added dave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "room.dead"
			es, _ := presenceCluster(t, url, 2, testLapse)
			reporter, other := es[0], es[1]
			q := &memberQueuer{t: t}
			other.WatchMembers(q.queueBy(other))
			reporter.WatchMembers(func(c broker.PresenceChange) {
				if tc.queued {
					q.queueBy(reporter)(c)
				}
				q.told(c) // the reporter dies here, its event queued or not
			})
			dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
			mustAdd(t, other, dave)
			keys, _ := redis.PresenceKeys(reporter, topic, "")
			slot := admin(t, masterOf(keys[0]))
			losePresence(t, slot, reporter, topic, dave.Session, dave.User)

			sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
			if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
				t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
			}
			leave := q.wait(t)
			unqueued := redis.LostJoinsUnqueued(reporter, topic)
			if tc.queued { // as if it died before noting the event queued: the report and its topic kept
				ends := time.Now().Add(time.Hour).UnixMilli()
				do(t, slot, "HSET", unqueued, fmt.Sprint(leave.Seq), fmt.Sprintf("%s\n%d\n%d\ndave", redis.PresenceLife(reporter), leave.After, ends))
				set := redis.LostJoinsTopics(reporter)
				do(t, admin(t, masterOf(set)), "SADD", set, topic)
			}
			life := redis.PresenceLife(reporter)
			redis.Die(reporter)
			if gone, err := other.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
				t.Fatalf("the other node's LostJoins: %v, %v; want [dave]", gone, err)
			}
			if tc.back {
				// Its member_added waits for the leave's, then goes, as the
				// sender has it go (before the cleanup, in most runs).
				mustAdd(t, other, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
				q.release(t, other)
			}

			// Until the other node cleaned up after the reporter.
			nodes := admin(t, masterOf(redis.PresenceNodes(reporter)))
			if !eventually(func() bool {
				return nodes.ZScore(ctxFor(t), redis.PresenceNodes(reporter), life).Err() == goredis.Nil
			}) {
				t.Fatal("the reporter's life was never cleaned up after")
			}
			if got := q.events(t, other); !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
			if n := slot.HLen(ctxFor(t), unqueued).Val(); n != 0 {
				t.Errorf("%d reports left unqueued", n)
			}
			set := redis.LostJoinsTopics(other)
			if held := admin(t, masterOf(set)).SMembers(ctxFor(t), set).Val(); len(held) != 0 {
				t.Errorf("the node that took the reports over keeps %v in its set of topics with reports unqueued, want nothing", held)
			}
			q.check(t)
		})
	}
}

// memberQueuer queues member events as the webhooks do
// (hooks.Webhooks.MemberChanged), the event naming the change's kind and
// user, and records the changes told.
type memberQueuer struct {
	t      *testing.T
	mu     sync.Mutex
	errs   []error
	leaves []broker.PresenceChange
}

func (q *memberQueuer) queueBy(e *redis.Engine) func(broker.PresenceChange) {
	return func(c broker.PresenceChange) {
		kind := "removed"
		if c.Join {
			kind = "added"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := e.QueueMember(ctx, c.Topic, c.After, c.Seq, []byte(kind+" "+c.User), memberHold, 100)
		q.mu.Lock()
		defer q.mu.Unlock()
		if err != nil {
			q.errs = append(q.errs, err)
		}
	}
}

func (q *memberQueuer) told(c broker.PresenceChange) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !c.Join {
		q.leaves = append(q.leaves, c)
	}
}

// wait returns the one leave told.
func (q *memberQueuer) wait(t *testing.T) broker.PresenceChange {
	t.Helper()
	var got []broker.PresenceChange
	eventually(func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		got = slices.Clone(q.leaves)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("the reporter was told %+v, want one leave", got)
	}
	return got[0]
}

// memberHold is how long a member event waits for the one before it here.
const memberHold = 100 * time.Millisecond

// events returns the events queued, as e reads them once the held ones
// went.
func (q *memberQueuer) events(t *testing.T, e *redis.Engine) []string {
	t.Helper()
	q.release(t, e)
	events, _, _, _, err := e.NextEvents(ctxFor(t), "reader", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, string(ev))
	}
	return got
}

// release has the events held past their wait go, as the sender does.
func (q *memberQueuer) release(t *testing.T, e *redis.Engine) {
	t.Helper()
	time.Sleep(memberHold)
	if _, err := e.QueueVacated(ctxFor(t), time.Now(), 100, 100); err != nil {
		t.Fatal(err)
	}
}

func (q *memberQueuer) check(t *testing.T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, err := range q.errs {
		t.Errorf("QueueMember: %v", err)
	}
}
