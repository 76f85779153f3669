package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/store/redis"
)

// docs/protocol.md section 8: joins and leaves of one user on one topic
// alternate. A failover that loses a join or a leave (asynchronous
// replication) has the node that made it add or remove its entry again
// after the reconnect, and so publish the join or the leave again; a node
// that handed the first one over does not hand over the second.
func TestPresenceRepairedAfterAFailoverIsNotAnnouncedTwice(t *testing.T) {
	t.Parallel()
	const topic = "room.repair"
	srv, px, watcher, rec, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: testLapse})
	mustSubscribe(t, watcher, topic)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	topicKeys, lifeKeys := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	keys := append(topicKeys, lifeKeys...)
	ch := changer{t, e, topic}

	// The new master lacks the join: Redis goes back to before it.
	before := snapshotKeys(t, admin, keys)
	ch.add("s1", "a")
	waitChanges(t, rec, topic, "+a")
	goBackTo(t, admin, keys, before)
	reconnected(t, px, e)

	// The new master still holds the entry the leave removed.
	before = snapshotKeys(t, admin, keys)
	ch.remove("s1", "a")
	waitChanges(t, rec, topic, "+a", "-a")
	goBackTo(t, admin, keys, before)
	reconnected(t, px, e)

	ch.add("s2", "b") // a change after both repairs, so that they had their chance to come
	waitChanges(t, rec, topic, "+a", "-a", "+b")
	wantAlternating(t, rec.presenceChanges(topic))
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
