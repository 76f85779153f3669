package redis_test

import (
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// docs/protocol.md section 8: joins and leaves of one user on one topic
// alternate on every subscription, and a member list is a presence
// answer with the joins and leaves that come after it applied to it. A
// failover that loses a join or a leave (asynchronous replication) has
// the node that made it add or remove its entry again after the
// reconnect, and so publish the join or the leave again. A subscription
// that was sent the first does not get the second; one whose presence
// answer was read after the loss, without the join (or with the user the
// leave removed), gets it, and so knows who is there: whether it was
// made after the loss or asked again.
func TestPresenceRepairedAfterAFailoverReachesWhoNeedsIt(t *testing.T) {
	t.Parallel()
	const topic = "room.repair"
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	watching := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "watching", PresenceLapse: time.Hour})
	b := broker.New(broker.Config{PresenceTopics: []string{"room.*"}}, watching)
	t.Cleanup(func() { _ = b.Close(ctxFor(t)) })
	e := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "cut", PresenceLapse: resyncLapse})
	if !eventually(func() bool { return redis.Probes(e) > 0 }) {
		t.Fatal("the engine never probed its pub/sub connection")
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	topicKeys, lifeKeys := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	keys := append(topicKeys, lifeKeys...)
	ch := changer{t, e, topic}

	// The new master lacks the join: Redis goes back to before it, and
	// presence read then lists nobody.
	old, rereads := watchFrom(t, b, topic), watchFrom(t, b, topic)
	before := snapshotKeys(t, admin, keys)
	ch.add("s1", "a")
	old.waitChanges(t, "join a")
	rereads.waitChanges(t, "join a")
	goBackTo(t, admin, keys, before)
	second := watchFrom(t, b, topic)
	for _, w := range []*watcher{second, rereads} {
		if got := w.members(t, topic); len(got) != 0 {
			t.Fatalf("the members read after the lost join: %v, want none", got)
		}
	}
	reconnected(t, px, e)
	ch.add("s2", "b") // after the repair, so that it had its chance to come
	old.waitChanges(t, "join a", "join b")
	rereads.waitChanges(t, "join a", "join a", "join b")
	second.waitChanges(t, "join a", "join b")

	// The new master still holds the entry the leave removed.
	before = snapshotKeys(t, admin, keys)
	ch.remove("s1", "a")
	old.waitChanges(t, "join a", "join b", "leave a")
	second.waitChanges(t, "join a", "join b", "leave a")
	goBackTo(t, admin, keys, before)
	third := watchFrom(t, b, topic)
	for _, w := range []*watcher{third, second} {
		if got := w.members(t, topic); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("the members read after the lost leave: %v, want a and b", got)
		}
	}
	reconnected(t, px, e)
	ch.add("s3", "c")
	old.waitChanges(t, "join a", "join b", "leave a", "join c")
	second.waitChanges(t, "join a", "join b", "leave a", "leave a", "join c")
	third.waitChanges(t, "leave a", "join c")
	rereads.waitChanges(t, "join a", "join a", "join b", "leave a", "join c")
}

// reconnected has e's pub/sub connection replaced, as a failover does,
// and returns once e checked its presence against Redis again.
func reconnected(t *testing.T, px interface{ Lose() }, e *redis.Engine) {
	t.Helper()
	n := e.Stats().Reconnects
	px.Lose()
	if !eventually(func() bool { return e.Stats().Reconnects > n && redis.PresenceResynced(e) }) {
		t.Fatal("the engine never reconnected and checked its presence")
	}
}

// snapshotKeys returns the DUMP of each of keys ("" for one that does not
// exist).
func snapshotKeys(t *testing.T, admin *goredis.Client, keys []string) []string {
	t.Helper()
	out := make([]string, len(keys))
	for i, k := range keys {
		v, err := admin.Dump(ctxFor(t), k).Result()
		if err != nil && err != goredis.Nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[i] = v
	}
	return out
}

// goBackTo puts keys back as dumps has them: Redis went back to then.
func goBackTo(t *testing.T, admin *goredis.Client, keys, dumps []string) {
	t.Helper()
	for i, k := range keys {
		if err := admin.Del(ctxFor(t), k).Err(); err != nil {
			t.Fatalf("DEL %s: %v", k, err)
		}
		if dumps[i] == "" {
			continue
		}
		if err := admin.Restore(ctxFor(t), k, 0, dumps[i]).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", k, err)
		}
	}
}

// A node checks its entries against Redis as soon as its pub/sub
// connection is replaced, not at its next heartbeat: with a lapse of an
// hour the heartbeats are 20 minutes apart, and the join the new master
// lost must be back within the test's wait.
func TestPresenceCheckedAtOnceAfterAReconnect(t *testing.T) {
	t.Parallel()
	const topic = "room.atonce"
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	e := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: uniquePrefix(t), PresenceLapse: time.Hour})
	if !eventually(func() bool { return redis.Probes(e) > 0 }) {
		t.Fatal("the engine never probed its pub/sub connection")
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	topicKeys, lifeKeys := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	keys := append(topicKeys, lifeKeys...)
	before := snapshotKeys(t, admin, keys)
	changer{t, e, topic}.add("s1", "a")
	goBackTo(t, admin, keys, before)
	if st := mustPresence(t, e, topic); st.Users != 0 {
		t.Fatalf("after Redis went back to before the join: %d users, want none", st.Users)
	}
	reconnected(t, px, e)
	if st := mustPresence(t, e, topic); st.Users != 1 || len(st.Members) != 1 || st.Members[0].User != "a" {
		t.Fatalf("after the reconnect: %+v, want user a back", st)
	}
}
