package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/store/redis"
)

// A replay that finds the log holds neither the node's place nor anything
// after it, and no end of a gone log, counts the gap and goes on from
// where the log ends then: the changes published after that while the
// pub/sub connection is down are read from the log once it is back, each
// once, and none the log held before is handed over again.
func TestChangesAfterTheLogLostItsPlaceComeAfterAReconnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// lose makes the log lose the node's place, as a failover that lost
		// its tail would, and returns the changes e got until then.
		lose func(t *testing.T, admin *goredis.Client, other, e *redis.Engine, rec *recorder, topic string) []string
	}{
		{"the log went", func(t *testing.T, admin *goredis.Client, _, e *redis.Engine, _ *recorder, topic string) []string {
			if err := admin.Del(ctxFor(t), changeLogKey(e, topic)).Err(); err != nil {
				t.Fatal(err)
			}
			return []string{"+watcher"}
		}},
		{"the log went back", func(t *testing.T, admin *goredis.Client, other, e *redis.Engine, rec *recorder, topic string) []string {
			changer{t, other, topic}.add("s1", "a")
			waitChanges(t, rec, topic, "+watcher", "+a")
			last, err := admin.XRevRangeN(ctxFor(t), changeLogKey(e, topic), "+", "-", 1).Result()
			if err != nil || len(last) != 1 {
				t.Fatalf("the log's last entry: %v, %v", last, err)
			}
			if err := admin.XDel(ctxFor(t), changeLogKey(e, topic), last[0].ID).Err(); err != nil {
				t.Fatal(err)
			}
			return []string{"+watcher", "+a"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const topic = "room.lost"
			srv, px, other, _, e, rec := watchedPresencePair(t, topic)
			admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			defer admin.Close()
			seen := tc.lose(t, admin, other, e, rec, topic)
			redis.MarkBehind(e, topic) // as after a shard connection was replaced
			if !eventually(func() bool { return e.Stats().PresenceGaps == 1 }) {
				t.Fatalf("presence gaps counted: %d, want 1", e.Stats().PresenceGaps)
			}
			replayed := redis.ReplayedChanges(e)
			px.Cut()
			ch := changer{t, other, topic}
			ch.add("s2", "b")
			ch.remove("s2", "b")
			px.Restore()
			waitChanges(t, rec, topic, append(seen, "+b", "-b")...)
			if n := redis.ReplayedChanges(e) - replayed; n != 2 {
				t.Errorf("%d changes handed over from the log after the reconnect, want the 2 missed", n)
			}
			if n := e.Stats().PresenceGaps; n != 1 {
				t.Errorf("presence gaps counted: %d, want 1", n)
			}
		})
	}
}
