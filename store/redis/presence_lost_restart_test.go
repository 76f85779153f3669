//go:build unix

package redis_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A lost join's leave reported before the topic's master restarted from
// a snapshot that kept all of it, and queued late, after the
// member_added of its user's return decided after the restart, is still
// dropped. Redis gives a master that restarts (and one a replica first
// attaches to with no backlog) a new master_replid and no
// master_replid2, so the return's master named no term before its own,
// and the leave, of another term, went after the return: the backend
// held the present user for gone. The terms the topic's data went
// through are kept in its slot, and the return carries those before its
// own.
func TestLostJoinsLeaveBeforeARestartDroppedForAReturnAfterIt(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	const topic = "room.restarted"
	es, _ := presenceCluster(t, c.URL(), 3, testLapse)
	reporter, node, holder := es[0], es[1], es[2]
	q := &memberQueuer{t: t}
	// The reporter is told the leave and queues it only once dave is
	// back.
	var mu sync.Mutex
	var leaves []broker.PresenceChange
	reporter.WatchMembers(func(ch broker.PresenceChange) {
		mu.Lock()
		defer mu.Unlock()
		leaves = append(leaves, ch)
	})
	node.WatchMembers(q.queueBy(node))
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, holder, dave)
	if err := holder.RemovePresence(ctxFor(t), dave); err != nil {
		t.Fatal(err)
	}
	if gone, err := reporter.LostJoins(ctxFor(t), topic, []broker.SentJoin{{User: "dave", Session: dave.Session}}); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("the reporter's LostJoins: %v, %v; want [dave]", gone, err)
	}

	// The topic's master restarts from a snapshot of all of it.
	master := c.MasterOfKey(redis.LostJoinsTaken(reporter, topic))
	before := admin(t, master.Addr()).Info(ctxFor(t), "replication").Val()
	if err := admin(t, master.Addr()).Save(ctxFor(t)).Err(); err != nil {
		t.Fatal(err)
	}
	master.Restart()
	c.WaitOK()
	if after := admin(t, master.Addr()).Info(ctxFor(t), "replication").Val(); replID(after) == replID(before) {
		t.Fatalf("the restart kept master_replid %s", replID(after))
	}

	// dave comes back, and its member_added goes before the leave's.
	if !eventually(func() bool {
		return node.AddPresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"}) == nil
	}) {
		t.Fatal("dave never came back")
	}
	q.release(t, node)
	mu.Lock()
	held := slices.Clone(leaves)
	mu.Unlock()
	if len(held) != 1 {
		t.Fatalf("the reporter was told %+v, want dave's leave", held)
	}
	q.queueBy(reporter)(held[0])

	if got, want := q.events(t, node), []string{"added dave"}; !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	q.check(t)
}

// replID is the master_replid an INFO replication reply names.
func replID(info string) string {
	_, rest, _ := strings.Cut(info, "master_replid:")
	id, _, _ := strings.Cut(rest, "\r\n")
	return id
}
