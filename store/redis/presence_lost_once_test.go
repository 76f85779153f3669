//go:build unix

package redis_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The member_removed of a lost join's leave is left out as queued
// already only when the leave queued under its number was its user's: a
// failover that lost the writes of a report (the topic's count among
// them) has the count give that number again, and the leave of another
// lost join numbered so was left out, its member_removed never queued.
func TestLostJoinsOnceKeyTellsUsersApart(t *testing.T) {
	t.Parallel()
	const topic = "room.again"
	srv := redistest.Start(t)
	admin := admin(t, srv.Addr())
	es, _ := presenceCluster(t, srv.URL(), 2, testLapse)
	reporter, other := es[0], es[1]
	q := &memberQueuer{t: t}
	queue := q.queueBy(reporter)
	reporter.WatchMembers(func(c broker.PresenceChange) {
		queue(c)
		q.told(c)
	})
	for _, user := range []string{"dave", "erin"} {
		mustAdd(t, other, broker.PresenceEntry{Topic: topic, Session: "s-" + user, User: user})
	}
	keys, _ := redis.PresenceKeys(reporter, topic, "")
	seqKey := keys[3]

	losePresence(t, admin, reporter, topic, "s-dave", "dave")
	if gone, err := reporter.LostJoins(ctxFor(t), topic, []broker.SentJoin{{User: "dave", Session: "s-dave"}}); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("LostJoins of dave: %v, %v; want [dave]", gone, err)
	}
	leave := q.wait(t)
	// A failover loses the report's writes: the count is back where it
	// was before it.
	do(t, admin, "SET", seqKey, fmt.Sprint(leave.After))

	losePresence(t, admin, reporter, topic, "s-erin", "erin")
	if gone, err := reporter.LostJoins(ctxFor(t), topic, []broker.SentJoin{{User: "erin", Session: "s-erin"}}); err != nil || !slices.Equal(gone, []string{"erin"}) {
		t.Fatalf("LostJoins of erin: %v, %v; want [erin]", gone, err)
	}
	if got := q.events(t, reporter); !slices.Equal(got, []string{"removed dave", "removed erin"}) {
		t.Fatalf("queued %v, want [removed dave, removed erin]", got)
	}
	q.check(t)
}
