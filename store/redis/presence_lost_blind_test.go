//go:build unix

package redis_test

import (
	"context"
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node whose Redis user may not read INFO knows no master's term, and
// tells none: the check of the joins another node sent, whose user may
// read it, does not wait for it. Telling an empty list of terms instead
// held every such check, on every topic, for as long as that node lived,
// and a dead node's lost joins never got their leaves.
func TestNodeRefusedInfoDoesNotHoldTheCheckUp(t *testing.T) {
	t.Parallel()
	const topic = "room.blind"
	srv := redistest.Start(t)
	admin := admin(t, srv.Addr())
	do(t, admin, "ACL", "SETUSER", "blind", "on", ">pw", "~*", "&*", "+@all", "-info")
	prefix := uniquePrefix(t)
	checking := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "checking", PresenceLapse: testLapse})
	blind := newEngine(t, "redis://blind:pw@"+srv.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "blind", PresenceLapse: testLapse})
	finder := &lostJoinFinder{recorder: newRecorder(), engine: checking, topic: topic, found: make(chan []string, 1)}
	checking.Attach(finder)

	// The blind node's second heartbeat: its first round, which tells
	// what it knows of the terms, is over.
	beat := func() float64 {
		return admin.ZScore(ctxFor(t), redis.PresenceNodes(blind), redis.PresenceLife(blind)).Val()
	}
	var first float64
	if !eventually(func() bool { first = beat(); return first > 0 }) {
		t.Fatal("the blind node never beat")
	}
	if !eventually(func() bool { return beat() > first }) {
		t.Fatal("the blind node never beat again")
	}

	do(t, admin, "CLIENT", "KILL", "TYPE", "pubsub")
	select {
	case gone := <-finder.found:
		if !slices.Equal(gone, []string{"ghost"}) {
			t.Fatalf("found %v lost, want [ghost]", gone)
		}
	case <-ctxFor(t).Done():
		t.Fatalf("the check after the reconnect never found ghost's join lost (checks run: %d)", redis.LostJoinsRuns(checking))
	}
}

// A live node that reads its master's new term before it has added its
// entries back there tells an empty list, not nothing, and so is waited
// for: its join Redis lost gets no leave, and the leave that comes when
// the user does leave is the only one.
func TestNodeThatReadANewTermBeforeItsResyncIsWaitedFor(t *testing.T) {
	t.Parallel()
	n := startUnsyncedLate(t, "room.unsynced")
	runs := redis.LostJoinsRuns(n.checking)
	n.toChecking.Lose()
	// Two runs at least: the check waited for the late node, and was made again.
	if !eventually(func() bool { return redis.LostJoinsRuns(n.checking) > runs+1 }) {
		t.Fatalf("the checking node's check of the joins it sent did not wait for the late node (%d runs)", redis.LostJoinsRuns(n.checking)-runs)
	}
	n.toLate.Lose()
	if !eventually(func() bool {
		return n.late.Stats().Reconnects > n.lateReconnects && redis.PresenceResynced(n.late)
	}) {
		t.Fatal("the late node never added its entries back")
	}
	n.bob.remove("s-bob", "bob")
	n.w.waitChanges(t, "join bob", "leave bob")
}

// A live node that never adds its entries back in the new term (its
// resync failing, or its pub/sub connection kept by an old master) holds
// the check no longer than lostJoinsPatience, ten lapses: then its user's
// join is taken for lost and left. Waiting for as long as the node beat,
// the check ran each waiting topic's script every second and never sent
// a dead node's leaves.
func TestCheckWaitsForAnUnsyncedNodeNoLongerThanItsPatience(t *testing.T) {
	t.Parallel()
	n := startUnsyncedLate(t, "room.stuck")
	n.toChecking.Lose()
	// A leave of bob proves the check ended its wait with bob's entries
	// missing: the late node, adding them back, would have listed him.
	if !eventually(func() bool { return slices.Contains(n.w.changes(), "leave bob") }) {
		t.Fatalf("the check still waits for the late node: joins and leaves %v (%d runs)", n.w.changes(), redis.LostJoinsRuns(n.checking))
	}
	if got := n.w.changes(); !slices.Equal(got[:2], []string{"join bob", "leave bob"}) {
		t.Fatalf("joins and leaves: %v, want join bob, leave bob first", got)
	}
}

// unsyncedLate is a checking node, with a presence:true subscription to a
// topic bob joined through the late node, after the server began a new
// term without bob's entries; the late node has read the new term but
// cannot add them back, its connection to Redis held by a proxy.
type unsyncedLate struct {
	checking, late     *redis.Engine
	toChecking, toLate *redistest.Proxy
	w                  *watcher
	bob                changer
	lateReconnects     uint64
}

func startUnsyncedLate(t *testing.T, topic string) unsyncedLate {
	t.Helper()
	srv := redistest.Start(t)
	toChecking, toLate := redistest.StartProxy(t, srv.Addr()), redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	checking := newEngine(t, "redis://"+toChecking.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "checking", PresenceLapse: testLapse})
	b := broker.New(broker.Config{PresenceTopics: []string{"room.*"}}, checking)
	t.Cleanup(func() { _ = b.Close(ctxFor(t)) })
	// The late node's lapse outlasts a busy machine's stalls (resyncLapse):
	// at testLapse its heartbeat lapsed now and then, through newTerm or
	// the check's wait, and it added bob back under a new life.
	late := newEngine(t, "redis://"+toLate.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "late", PresenceLapse: resyncLapse})
	admin := admin(t, srv.Addr())
	synced, life := redis.PresenceSynced(late), redis.PresenceLife(late)
	told := func() (string, bool) {
		v, err := admin.HGet(ctxFor(t), synced, life).Result()
		return v, err == nil
	}
	if !eventually(func() bool { v, ok := told(); return ok && v != "" }) {
		t.Fatal("the late node never told the term its entries are in")
	}
	w := watchFrom(t, b, topic)
	bob := changer{t, late, topic}
	bob.add("s-bob", "bob")
	w.waitChanges(t, "join bob")

	lateReconnects := late.Stats().Reconnects
	newTerm(t, srv)
	losePresence(t, admin, late, topic, "s-bob", "bob")
	if !eventually(func() bool { v, ok := told(); return ok && v == "" }) {
		v, ok := told()
		t.Fatalf("the late node, its entries not added back in the new term, tells %q (told: %v), want an empty list", v, ok)
	}
	if late.Stats().Reconnects != lateReconnects {
		t.Fatal("the late node reconnected by itself: nothing here held its resync back")
	}
	// A heartbeat that lapsed while the server was a replica has the late
	// node add bob back under a new life, and no leave of him is due.
	if redis.PresenceLife(late) != life {
		t.Fatal("the late node's heartbeat lapsed during the new term's start: it added its entries back")
	}
	return unsyncedLate{checking: checking, late: late, toChecking: toChecking, toLate: toLate, w: w, bob: bob, lateReconnects: lateReconnects}
}

// lostJoinFinder is a Handler whose check of the joins it sent asks about
// one join of a user Redis never listed, and passes on what it finds lost.
type lostJoinFinder struct {
	*recorder
	engine *redis.Engine
	topic  string
	found  chan []string
}

func (h *lostJoinFinder) SendLostLeaves(ctx context.Context) error {
	gone, err := h.engine.LostJoins(ctx, h.topic, []broker.SentJoin{{User: "ghost", Session: "s-ghost"}})
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		select {
		case h.found <- gone:
		default:
		}
	}
	return nil
}
