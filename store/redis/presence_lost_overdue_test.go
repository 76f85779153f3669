//go:build unix

package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
	goredis "github.com/redis/go-redis/v9"
)

// A lost join's leave queued after its user's mark ended is never told
// after the user's return: a user the topic lists again came back,
// unmarked, with no back key, so its return's member_added may have
// gone, and the leave is dropped; one not back is marked again as the
// leave goes, so that a return from then on drops it or follows it.
// Before, the leave went after the return's member_added once the mark
// was gone, and the backend held the present user for gone. On one
// server and on Cluster.
func TestLostJoinsLeaveQueuedPastItsMark(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testLeaveQueuedPastItsMark)
}

// hashWrites has the server of c tell the hash commands on key from now
// on (keyspace notifications), and returns a function that returns the
// commands told so far.
func hashWrites(t *testing.T, c *goredis.Client, key string) func() []string {
	t.Helper()
	do(t, c, "CONFIG", "SET", "notify-keyspace-events", "Kh")
	sub := c.Subscribe(ctxFor(t), "__keyspace@0__:"+key)
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctxFor(t)); err != nil { // subscribed
		t.Fatal(err)
	}
	return func() []string {
		// The server queues a write's notification on sub as it writes:
		// those of the writes done so far come before this PING's answer.
		if err := sub.Ping(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			msg, err := sub.Receive(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := msg.(*goredis.Message); ok {
				got = append(got, m.Payload)
			} else if _, ok := msg.(*goredis.Pong); ok {
				return got
			}
		}
	}
}

func testLeaveQueuedPastItsMark(t *testing.T, url string, masterOf func(key string) string) {
	for _, tc := range []struct {
		name string
		back bool // dave came back once the mark ended
		want []string
	}{
		{"user back", true, []string{"added dave"}},
		{"user not back", false, []string{"removed dave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const topic = "room.overdue"
			es, _ := presenceCluster(t, url, 3, testLapse)
			reporter, node, holder := es[0], es[1], es[2]
			q := &memberQueuer{t: t}
			reporter.WatchMembers(func(broker.PresenceChange) {})
			node.WatchMembers(q.queueBy(node))
			dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
			mustAdd(t, holder, dave)
			if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
				t.Fatal(err)
			}
			// The reporter reports the leave, kept briefly, and is slow to
			// queue it: dave's mark ends first.
			leaves, err := redis.ReportLostJoinsKept(ctxFor(t), reporter, topic, 300*time.Millisecond,
				[]broker.SentJoin{{User: "dave", Session: dave.Session}})
			if err != nil || len(leaves) != 1 {
				t.Fatalf("reported %+v, %v; want dave's leave", leaves, err)
			}
			taken := redis.LostJoinsTaken(reporter, topic)
			slot := admin(t, masterOf(taken))
			end, err := slot.HGet(ctxFor(t), taken, "dave").Int64()
			if err != nil {
				t.Fatalf("dave's mark: %v", err)
			}
			waitClockPast(t, slot, end, "dave's mark's end")

			if tc.back {
				mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"})
				q.release(t, node) // its member_added waited for the leave's, and went
			}
			// The new mark lasts the report's keep from the leave's queueing,
			// and may be gone by the time the queue is read: its write is
			// watched for instead of read afterwards.
			writes := hashWrites(t, slot, taken)
			q.queueBy(reporter)(leaves[0])

			if got := q.events(t, node); !slices.Equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
			// markTaken writes a mark only when it ends later than the one
			// held: an HSET of the taken hash, where dave alone was marked,
			// marks him again.
			if got := writes(); !tc.back && !slices.Contains(got, "hset") {
				t.Errorf("taken hash written %v as the leave was queued, want dave marked again (hset)", got)
			}
			q.check(t)
		})
	}
}
