//go:build unix

package redis_test

import (
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The record of a lost join's reported leave is "<session>\n<node>\n<term>",
// and a node's name may hold a line break (nothing refuses one): the
// term is read after the record's last one, which a term (hex) never
// holds, and the node before it. Read after the first, a node named so
// had the term taken for another, and the next node to check reported
// the leave again.
func TestLostJoinsRecordOfANodeNamedOverTwoLines(t *testing.T) {
	t.Parallel()
	const topic = "room.lines"
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	first := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "first\nnode", PresenceLapse: testLapse})
	second := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "second", PresenceLapse: testLapse})
	told := watchMembers([]*redis.Engine{first, second})
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, second, dave)
	told[1].take()
	losePresence(t, admin(t, srv.Addr()), first, topic, dave.Session, dave.User)

	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	for _, e := range []*redis.Engine{first, second} {
		if gone, err := e.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
			t.Fatalf("LostJoins: %v, %v; want [dave]", gone, err)
		}
	}
	if got := append(told[0].take(), told[1].take()...); len(got) != 1 || got[0].Join || got[0].User != "dave" {
		t.Fatalf("dave's lost join, checked by two nodes, was reported as %+v, want his leave once", got)
	}
}
