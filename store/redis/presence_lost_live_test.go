//go:build unix

package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A failover loses the join of a live node that adds it back only
// seconds later than the others check the joins they sent (its way to
// the new master is down meanwhile, here): the check waits for that node
// to add its entries back on the new master, and its subscriptions get
// no leave of a user who never left, the backend no member_removed. A
// leave of the user that comes after is sent, and reported, once. A
// user of that node who did leave meanwhile, its leave lost with the
// master's last writes, gets its leave from the check once the node's
// entries are back, reported once.
func TestLiveNodesLateJoinIsNotTakenForLost(t *testing.T) {
	t.Parallel()
	const topic = "room.late"
	srv := redistest.Start(t)
	toChecking, toLate := redistest.StartProxy(t, srv.Addr()), redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	checking := newEngine(t, "redis://"+toChecking.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "checking", PresenceLapse: testLapse})
	b := broker.New(broker.Config{PresenceTopics: []string{"room.*"}}, checking)
	t.Cleanup(func() { _ = b.Close(ctxFor(t)) })
	// An hour's lapse: cut off from Redis, the late node stays live.
	late := newEngine(t, "redis://"+toLate.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "late", PresenceLapse: time.Hour})
	var toldChecking, toldLate orderedChanges
	checking.WatchMembers(toldChecking.add)
	late.WatchMembers(toldLate.add)
	admin := admin(t, srv.Addr())
	synced := redis.PresenceSynced(late)
	if !eventually(func() bool { return admin.HExists(ctxFor(t), synced, redis.PresenceLife(late)).Val() }) {
		t.Fatal("the late node never told the terms its entries are in")
	}

	w := watchFrom(t, b, topic)
	bob := changer{t, late, topic}
	bob.add("s-bob", "bob")
	bob.add("s-cy", "cy")
	w.waitChanges(t, "join bob", "join cy")

	toLate.Cut()
	_ = late.RemovePresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s-cy", User: "cy"}) // fails: taken again later
	newTerm(t, srv)
	for session, user := range map[string]string{"s-bob": "bob", "s-cy": "cy"} {
		losePresence(t, admin, late, topic, session, user)
	}
	runs, lateReconnects := redis.LostJoinsRuns(checking), late.Stats().Reconnects
	toChecking.Lose()
	if !eventually(func() bool { return redis.LostJoinsRuns(checking) > runs }) {
		t.Fatal("the checking node never checked the joins it sent after its reconnect")
	}
	toLate.Restore()
	if !eventually(func() bool { return late.Stats().Reconnects > lateReconnects && redis.PresenceResynced(late) }) {
		t.Fatal("the late node never added its entries back")
	}
	w.waitChanges(t, "join bob", "join cy", "leave cy")
	bob.remove("s-bob", "bob")
	w.waitChanges(t, "join bob", "join cy", "leave cy", "leave bob")

	if got := toldChecking.take(); len(got) != 1 || got[0].Join || got[0].User != "cy" {
		t.Fatalf("the checking node reported %+v, want cy's leave", got)
	}
	var leaves []broker.PresenceChange
	for _, c := range toldLate.take() {
		if !c.Join {
			leaves = append(leaves, c)
		}
	}
	if len(leaves) != 1 || leaves[0].User != "bob" {
		t.Fatalf("the late node reported the leaves %+v, want bob's one", leaves)
	}
}

// newTerm has srv start a new term as master, its data kept, as a
// replica promoted in a failover does: a replica of it is promoted, srv
// follows it, then is promoted in turn.
func newTerm(t *testing.T, srv *redistest.Server) {
	t.Helper()
	other := redistest.Start(t)
	replicate(t, srv, other, srv.Addr())
	do(t, admin(t, other.Addr()), "REPLICAOF", "NO", "ONE")
	replicate(t, other, srv, other.Addr())
	do(t, admin(t, srv.Addr()), "REPLICAOF", "NO", "ONE")
}
