//go:build unix

package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A lost join's leave whose member event its reporter queued, and whose
// report it failed to take out (Redis failing as it did), is not queued
// a second time by the node that cleans up after the reporter once the
// key that makes the queueing once has lapsed: the report lapses with
// it, though its hash lives on. Before, the hash's expiry, pushed back
// by every later report on the topic, was the report's, and the
// cleanup queued a second member_removed.
func TestLostJoinsReportLapsesWithItsOnceKey(t *testing.T) {
	t.Parallel()
	const topic = "room.lapsed"
	srv := redistest.Start(t)
	admin := admin(t, srv.Addr())
	es, _ := presenceCluster(t, srv.URL(), 3, testLapse)
	reporter, other, holder := es[0], es[1], es[2]
	q := &memberQueuer{t: t}
	other.WatchMembers(q.queueBy(other))
	reporter.WatchMembers(q.told) // queued below, by hand
	// dave's join goes to the reporter, and his leave does not (it has
	// no place in the topic's change log): to it, his join is lost. The
	// holder, which watches no members, has no entry to add back while
	// the test waits.
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, holder, dave)
	if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
		t.Fatal(err)
	}

	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
	}
	leave := q.wait(t)
	unqueued := redis.LostJoinsUnqueued(reporter, topic)
	seq := fmt.Sprint(leave.Seq)
	report := do(t, admin, "HGET", unqueued, seq).(string)
	q.queueBy(reporter)(leave)
	// As if taking the report out had failed, and later reports on the
	// topic had kept its hash.
	do(t, admin, "HSET", unqueued, seq, report)
	do(t, admin, "SADD", redis.LostJoinsTopics(reporter), topic)
	do(t, admin, "PEXPIRE", unqueued, time.Hour.Milliseconds())
	once := redis.LostOnceKey(reporter, topic, leave.Seq, "dave")
	if do(t, admin, "EXISTS", once).(int64) != 1 {
		t.Fatal("the reporter queued the leave without its once key")
	}
	deadline := time.Now().Add(time.Minute)
	for do(t, admin, "EXISTS", once).(int64) == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the once key never lapsed")
		}
		time.Sleep(100 * time.Millisecond)
	}

	life := redis.PresenceLife(reporter)
	redis.Die(reporter)
	if !eventually(func() bool {
		return admin.ZScore(ctxFor(t), redis.PresenceNodes(reporter), life).Err() == goredis.Nil
	}) {
		t.Fatal("the reporter's life was never cleaned up after")
	}
	if got := q.events(t, other); !slices.Equal(got, []string{"removed dave"}) {
		t.Fatalf("queued %v, want [removed dave]", got)
	}
	q.check(t)
}
