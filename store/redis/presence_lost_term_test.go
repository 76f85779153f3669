//go:build unix

package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The leave of a marked user's return that the topic's master lost is
// told after that return, though the master, back from a snapshot taken
// before the return and a change before it, gives the leave a seq below
// the return's: the queue, in another slot, still held the return's seq
// in the user's back key, and dropped the leave as if decided before
// the return, so the backend held the user, gone with its node, as a
// member for good. The back key and the leave now carry the term of the
// master that numbered them, which the restart changed.
//
// Cluster only: on one server (and under Sentinel) the queue's keys are
// on the topic's master, and its back key, written after the return,
// goes with the return.
func TestLostJoinsLeaveOfAReturnLostInAFailover(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	es, _ := presenceCluster(t, c.URL(), 3, testLapse)
	reporter, node, holder := es[0], es[1], es[2]
	queue := c.MasterOfKey(redis.HeldTopicsKey(reporter, "any")).Addr()
	var topic string
	for i := 0; topic == ""; i++ {
		if name := fmt.Sprintf("room.term%d", i); c.MasterOfKey(redis.LostJoinsTaken(reporter, name)).Addr() != queue {
			topic = name
		}
	}
	master := c.MasterOfKey(redis.LostJoinsTaken(reporter, topic))

	q := &memberQueuer{t: t}
	var mu sync.Mutex
	var changes []broker.PresenceChange
	watch := func(e *redis.Engine) func(broker.PresenceChange) {
		queueIt := q.queueBy(e)
		return func(ch broker.PresenceChange) {
			mu.Lock()
			changes = append(changes, ch)
			mu.Unlock()
			queueIt(ch)
		}
	}
	reporter.WatchMembers(watch(reporter))
	node.WatchMembers(watch(node))

	// dave's join and ordinary leave are made by a node that watches no
	// members; the reporter, with no place in the topic's change log,
	// takes the join for lost, and its leave marks dave.
	loseDavesJoin(t, holder, reporter, topic)
	q.release(t, reporter)
	if err := admin(t, master.Addr()).Save(ctxFor(t)).Err(); err != nil {
		t.Fatal(err)
	}

	// On dave's node, eve joins, then dave comes back, marked: the
	// return's member_added goes, with dave's back key.
	mustAdd(t, node, broker.PresenceEntry{Topic: topic, Session: "s-eve", User: "eve"})
	back := broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"}
	mustAdd(t, node, back)
	q.release(t, node)

	// dave's node dies, so nobody adds the return again, and the topic's
	// master comes back from the snapshot: eve's join and dave's return
	// are lost, their seqs to be given again.
	redis.Die(node)
	master.Restart()
	c.WaitOK()
	if !eventually(func() bool {
		gone, err := reporter.LostJoins(ctxFor(t), topic, []broker.SentJoin{{User: "dave", Session: back.Session}})
		return err == nil && slices.Equal(gone, []string{"dave"})
	}) {
		t.Fatal("the reporter never found dave's return lost")
	}

	mu.Lock()
	told := slices.Clone(changes)
	mu.Unlock()
	var returned, left broker.PresenceChange
	for _, ch := range told {
		switch {
		case ch.User == "dave" && ch.Join:
			returned = ch
		case ch.User == "dave":
			left = ch // the last leave told
		}
	}
	if left.Seq >= returned.Seq {
		t.Fatalf("the return's leave is numbered %d, the return %d: want the return's seq given again below it", left.Seq, returned.Seq)
	}
	want := []string{"removed dave", "added eve", "added dave", "removed dave"}
	if got := q.events(t, reporter); !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	q.check(t)
}

// A lost join's leave reported before a failover that kept the topic's
// data, and queued late, after the member_added of its user's return
// decided after the failover, is still dropped: the return's master
// was promoted from the leave's, so the leave, of the term before the
// return's, was decided before it, whatever their seqs.
func TestLostJoinsLeaveBeforeAFailoverDroppedForAReturnAfterIt(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	const topic = "room.promoted"
	reporter, node, q, leaves := holdDavesLostLeave(t, c.URL(), topic)

	// The topic's master hands over to its replica, which has all of it.
	master := c.MasterOfKey(redis.LostJoinsTaken(reporter, topic))
	replica := replicaOf(t, c, master)
	if replica == nil {
		t.Fatalf("no replica of %s", master.Addr())
	}
	if n, err := admin(t, master.Addr()).Wait(ctxFor(t), 1, waitTimeout).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT on %s: %d replicas, %v", master.Addr(), n, err)
	}
	promoted := admin(t, replica.Addr())
	if err := promoted.Do(ctxFor(t), "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER TAKEOVER on %s: %v", replica.Addr(), err)
	}
	if !eventually(func() bool {
		role, err := promoted.Do(ctxFor(t), "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master"
	}) {
		t.Fatalf("%s never became master", replica.Addr())
	}
	c.WaitOK()

	// dave comes back, and its member_added goes before the leave's.
	daveBackBeforeHisLeave(t, topic, reporter, node, q, leaves)
}
