//go:build unix

package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A session whose lost join had its leave reported, and that then joins
// again (its node added it back late, or its user came back through it),
// may have that join lost by the next failover in turn. The new master
// then holds what the old one held before the join came back: the record
// of the first leave's report, and neither the entry nor anything else
// the join wrote. The second leave is reported too, once: the record
// names the term of the master it was written in, and a record of an
// earlier term is not taken for this join's. Before, every node but the
// first reporter took the second leave for reported: with that one no
// longer checking (its subscribers gone), the backend never got the
// member_removed (the nodes' subscribers got the leave, each node
// sending it to its own whoever reports it). Between the two
// failovers, checks that find the user back report nothing, and neither
// does a check made after a leave decided as usual: a join back does
// not clear the record (the failover that loses the join would lose
// that too).
func TestLostJoinOfASessionBackAgainIsToldAgain(t *testing.T) {
	t.Parallel()
	const topic = "room.again"
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	node := func(id string, lapse time.Duration) *redis.Engine {
		e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: id, PresenceLapse: lapse})
		e.Attach(newRecorder())
		return e
	}
	// c, whose session dave's is, dies later: its hour's lapse keeps the
	// others from cleaning up after it meanwhile.
	first, b, c, d := node("first", testLapse), node("b", testLapse), node("c", time.Hour), node("d", testLapse)
	told := watchMembers([]*redis.Engine{first, b, c, d})
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, c, dave)
	told[2].take()
	admin := admin(t, srv.Addr())
	// A master's first replica gives it a new term: attached from the
	// start, as in production, it changes none during the test.
	next := redistest.Start(t)
	replicate(t, srv, next, srv.Addr())
	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	check := func(e *redis.Engine, want ...string) {
		t.Helper()
		gone, err := e.LostJoins(ctxFor(t), topic, sent)
		if err != nil || !slices.Equal(gone, want) {
			t.Fatalf("LostJoins: %v, %v; want %v", gone, err, want)
		}
	}
	reports := func() []broker.PresenceChange {
		var all []broker.PresenceChange
		for _, o := range told {
			all = append(all, o.take()...)
		}
		return all
	}

	losePresence(t, admin, first, topic, dave.Session, dave.User)
	check(first, "dave")
	if got := reports(); len(got) != 1 || got[0].Join || got[0].User != "dave" {
		t.Fatalf("the first loss was reported as %+v, want dave's leave", got)
	}

	// The next master, a replica until now, stops taking this one's
	// writes before dave's session joins again.
	do(t, admin, "WAIT", 1, 5000)
	do(t, redisOn(t, next.Addr()), "REPLICAOF", "NO", "ONE")

	mustAdd(t, c, dave)
	if got := reports(); len(got) != 1 || !got[0].Join {
		t.Fatalf("dave's session back was reported as %+v, want his join", got)
	}
	check(b) // a check racing the join back, made after it, finds dave listed
	check(d)
	// A leave decided as usual, and then a check made before its node
	// heard of it (its last change sent of dave still the join): the
	// record of the first report stands, and the leave is not reported
	// again.
	if err := c.RemovePresence(ctxFor(t), dave); err != nil {
		t.Fatal(err)
	}
	if got := reports(); len(got) != 1 || got[0].Join {
		t.Fatalf("dave's leave was reported as %+v, want it once", got)
	}
	check(b, "dave")
	if got := reports(); len(got) != 0 {
		t.Fatalf("a check made after dave's leave reported %+v", got)
	}
	mustAdd(t, c, dave)
	reports()
	redis.Die(c) // gone before it could add dave back after the next failover

	keys, _ := redis.PresenceKeys(b, topic, "")
	usersKey := keys[1]
	// The failover: srv takes the next master's data, without the join
	// back, and is promoted in a new term.
	replicate(t, next, srv, next.Addr())
	do(t, admin, "REPLICAOF", "NO", "ONE")
	if n, err := admin.HLen(ctxFor(t), redis.LostJoinsRecord(b, topic)).Result(); err != nil || n != 1 {
		t.Fatalf("the new master keeps %d records of reported leaves (%v), want the first loss's", n, err)
	}
	if listed, _ := admin.HExists(ctxFor(t), usersKey, "dave").Result(); listed {
		t.Fatal("the new master lists dave: the failover lost nothing")
	}

	// The first reporter no longer checks: its subscribers left.
	check(b, "dave")
	check(d, "dave")
	if got := reports(); len(got) != 1 || got[0].Join || got[0].User != "dave" {
		t.Fatalf("the second loss, checked by two nodes, was reported as %+v, want dave's leave once", got)
	}
}
