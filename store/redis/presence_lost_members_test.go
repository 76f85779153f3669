//go:build unix

package redis_test

import (
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A join Redis lost (a failover took its entry; the node that made it
// has not added it back) has the leave that the nodes that sent it find
// told to the member watcher of exactly one node, so that the backend
// gets one member_removed, numbered after the join. A user Redis lists
// is not found lost and is told nothing: one who never lost its join,
// and the lost one back under another session. A join of that session
// lost in turn is told again. On one server and on Cluster, where the
// check's keys must share the topic's slot.
func TestLostJoinsLeaveIsToldOnce(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		testLostJoinsLeaveIsToldOnce(t, srv.URL(), func(string) string { return srv.Addr() })
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, 3, 0)
		testLostJoinsLeaveIsToldOnce(t, c.URL(), func(key string) string { return c.MasterOfKey(key).Addr() })
	})
}

func testLostJoinsLeaveIsToldOnce(t *testing.T, url string, masterOf func(key string) string) {
	const topic = "room.lost"
	es, _ := presenceCluster(t, url, 3, testLapse)
	told := watchMembers(es)
	a, b, c := es[0], es[1], es[2]
	eve := broker.PresenceEntry{Topic: topic, Session: "s-eve", User: "eve"}
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, a, eve)
	mustAdd(t, c, dave)
	joined := told[2].take()
	told[0].take()
	if len(joined) != 1 || !joined[0].Join {
		t.Fatalf("c was told %+v for dave's join", joined)
	}
	keys, _ := redis.PresenceKeys(a, topic, "")
	admin := admin(t, masterOf(keys[0]))
	lose := func(p broker.PresenceEntry) {
		t.Helper()
		losePresence(t, admin, a, topic, p.Session, p.User)
	}
	check := func(e *redis.Engine, joins ...broker.SentJoin) []string {
		t.Helper()
		gone, err := e.LostJoins(ctxFor(t), topic, joins)
		if err != nil {
			t.Fatalf("LostJoins: %v", err)
		}
		return gone
	}
	leaves := func() []broker.PresenceChange {
		var all []broker.PresenceChange
		for _, o := range told {
			all = append(all, o.take()...)
		}
		return all
	}
	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}, {User: "eve", Session: eve.Session}}

	lose(dave)
	for _, e := range []*redis.Engine{a, b, b} { // both nodes that sent the join, the one that did not report it twice
		if gone := check(e, sent...); !slices.Equal(gone, []string{"dave"}) {
			t.Fatalf("found %v lost, want [dave]", gone)
		}
	}
	left := leaves()
	if len(left) != 1 || left[0].Join || left[0].User != "dave" || left[0].Topic != topic || left[0].After != joined[0].Seq {
		t.Fatalf("told %+v after three checks, want dave's leave once, after his join %+v", left, joined[0])
	}

	back := broker.PresenceEntry{Topic: topic, Session: "s-dave-2", User: "dave"}
	mustAdd(t, b, back)
	rejoined := leaves()
	if len(rejoined) != 1 || !rejoined[0].Join || rejoined[0].After != left[0].Seq {
		t.Fatalf("told %+v for dave's return, want his join after the leave %+v", rejoined, left[0])
	}
	if gone := check(a, sent...); len(gone) != 0 {
		t.Fatalf("found %v lost with dave back", gone)
	}
	if gone := check(b, broker.SentJoin{User: "dave", Session: back.Session}); len(gone) != 0 {
		t.Fatalf("found %v lost with dave back", gone)
	}
	if got := leaves(); len(got) != 0 {
		t.Fatalf("told %+v of members Redis lists", got)
	}

	lose(back)
	if gone := check(a, broker.SentJoin{User: "dave", Session: back.Session}); !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("found %v lost of dave's second join, want [dave]", gone)
	}
	if again := leaves(); len(again) != 1 || again[0].Join || again[0].After != rejoined[0].Seq {
		t.Fatalf("told %+v for dave's second lost join, want his leave after %+v", again, rejoined[0])
	}
}

// losePresence removes user's session from topic's presence in Redis, as a
// failover that lost its join does, through admin, a client of the
// topic's master; e is any engine of the cluster.
func losePresence(t *testing.T, admin *goredis.Client, e *redis.Engine, topic, session, user string) {
	t.Helper()
	keys, _ := redis.PresenceKeys(e, topic, "")
	do(t, admin, "HDEL", keys[0], session)
	do(t, admin, "HDEL", keys[1], user)
	do(t, admin, "ZREM", keys[4], user)
}
