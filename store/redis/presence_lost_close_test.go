//go:build unix

package redis_test

import (
	"context"
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node that closes with a lost join's leave reported and its
// member_removed not queued (its webhooks stopped before they could
// queue it: the queue's master unreachable as the node shut down) leaves
// its life to lapse, and the node that cleans up after it queues the
// event. Before, Close forgot the life and its set of topics with
// reports unqueued at once, and nobody queued the event.
func TestLostJoinsLeaveUnqueuedAtCloseIsQueued(t *testing.T) {
	t.Parallel()
	const topic = "room.closing"
	srv := redistest.Start(t)
	es, _ := presenceCluster(t, srv.URL(), 2, testLapse)
	reporter, other := es[0], es[1]
	q := &memberQueuer{t: t}
	other.WatchMembers(q.queueBy(other))
	reporter.WatchMembers(q.told) // stopped before it queued anything
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, other, dave)
	admin := admin(t, srv.Addr())
	losePresence(t, admin, reporter, topic, dave.Session, dave.User)

	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if gone, err := reporter.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
	}
	q.wait(t)
	life := redis.PresenceLife(reporter)
	if err := reporter.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if !eventually(func() bool {
		return admin.ZScore(ctxFor(t), redis.PresenceNodes(reporter), life).Err() == goredis.Nil
	}) {
		t.Fatal("the reporter's life was never cleaned up after")
	}
	if got := q.events(t, other); !slices.Equal(got, []string{"added dave", "removed dave"}) {
		t.Fatalf("queued %v, want [added dave, removed dave]", got)
	}
	q.check(t)
}
