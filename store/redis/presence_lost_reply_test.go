//go:build unix

package redis_test

import (
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node whose check of a lost join ran in Redis but whose reply never
// came (a read that timed out after the script ran) has not told its
// member watcher of the leave, and checks the join again, as its last
// change sent of the user is still the join: the leave is told then, by
// that node alone, numbered after the join. Before, Redis kept the
// session as reported and no node told the leave: the backend never got
// the member_removed.
func TestLostJoinsLeaveUnheardIsToldByItsReporter(t *testing.T) {
	t.Parallel()
	const topic = "room.unheard"
	srv := redistest.Start(t)
	es, _ := presenceCluster(t, srv.URL(), 3, testLapse)
	told := watchMembers(es)
	a, b, c := es[0], es[1], es[2]
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, c, dave)
	joined := told[2].take()
	if len(joined) != 1 || !joined[0].Join {
		t.Fatalf("c was told %+v for dave's join", joined)
	}
	admin := admin(t, srv.Addr())
	losePresence(t, admin, a, topic, dave.Session, dave.User)

	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if err := redis.CheckLostJoinsUnheard(ctxFor(t), a, topic, sent); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*redis.Engine{b, a} { // another node, then a again
		gone, err := e.LostJoins(ctxFor(t), topic, sent)
		if err != nil || !slices.Equal(gone, []string{"dave"}) {
			t.Fatalf("LostJoins: %v, %v; want [dave]", gone, err)
		}
	}
	if got := append(told[1].take(), told[2].take()...); len(got) != 0 {
		t.Fatalf("the nodes that did not report dave's leave were told %+v", got)
	}
	left := told[0].take()
	if len(left) != 1 || left[0].Join || left[0].User != "dave" || left[0].After < joined[0].Seq {
		t.Fatalf("a, its report unheard, was told %+v when it checked again, want dave's leave once, after his join %+v", left, joined[0])
	}
}
