//go:build unix

package redis_test

import (
	"os"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// releaseBefore is a script of the release before the terms of a lost
// join's leave and of a return were kept, as a node of it runs it during
// a rolling update.
func releaseBefore(t *testing.T, name string) *goredis.Script {
	t.Helper()
	src, err := os.ReadFile("testdata/release_before/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return goredis.NewScript(string(src))
}

// During a rolling update a node of the release before takes over the
// report of a lost join's leave that a node of this one made and died
// with, and queues the leave's member event after a marked return's
// member_added that a node of this one queued: it reads both as it wrote
// them. Before, it found the report, its end followed by the term,
// malformed and dropped it, the member_removed with it (a user gone held
// present for good); and its queueing of the leave failed, for as long
// as the back key lived, on a key holding the terms after the seq.
func TestLostJoinsReadByTheReleaseBefore(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, func(t *testing.T, url string, masterOf func(key string) string) {
		const topic = "room.rolling"
		es, _ := presenceCluster(t, url, 2, testLapse)
		reporter, node := es[0], es[1]
		q := &memberQueuer{t: t}
		node.WatchMembers(q.queueBy(node))
		reporter.WatchMembers(q.told)

		leaves, err := redis.ReportLostJoinsKept(ctxFor(t), reporter, topic, time.Minute,
			[]broker.SentJoin{{User: "dave", Session: "s-dave"}})
		if err != nil || len(leaves) != 1 {
			t.Fatalf("ReportLostJoinsKept: %+v, %v; want dave's leave", leaves, err)
		}
		leave := leaves[0]
		unqueued := redis.LostJoinsUnqueued(reporter, topic)
		slot := admin(t, masterOf(unqueued))
		users, _ := redis.PresenceKeys(reporter, topic, "")
		taken := []string{unqueued, users[1], redis.LostJoinsTaken(reporter, topic)}
		life := redis.PresenceLife(reporter)
		got, err := releaseBefore(t, "lost_takeover.lua").Run(ctxFor(t), slot, taken, life, "a-life-before").StringSlice()
		if err != nil {
			t.Fatalf("the takeover of the release before: %v", err)
		}
		if len(got) != 4 || got[2] != "dave" {
			t.Errorf("the takeover of the release before took over %q, want dave's leave", got)
		}

		// dave comes back, marked, on a node of this release, and its
		// member_added goes with the back key.
		mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
		q.release(t, node)
		back := redis.LostBackKey(node, topic, "dave")
		hooks := admin(t, masterOf(back))
		wk := []string{redis.WebhookKey(node, "mseq:"+topic), redis.WebhookKey(node, "mheld:"+topic),
			redis.WebhookKey(node, "mdue"), redis.WebhookKey(node, "events"),
			redis.LostOnceKey(node, topic, leave.Seq, "dave"), back}
		member := releaseBefore(t, "member.lua")
		if err := member.Run(ctxFor(t), hooks, wk, topic, leave.After, leave.Seq, "removed dave", 100,
			memberHold.Milliseconds(), 32, 1000, time.Minute.Milliseconds(), "lost").Err(); err != nil {
			t.Fatalf("the queueing of the release before: %v", err)
		}
		if events := q.events(t, node); !slices.Equal(events, []string{"added dave"}) {
			t.Fatalf("queued %v, want [added dave]", events)
		}
		q.check(t)
	})
}
