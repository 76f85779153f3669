package redis_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// testLapse is the presence lapse of the tests that kill a node: short,
// so that they finish soon; it is not asserted.
const testLapse = 600 * time.Millisecond

// resyncLapse is the presence lapse of the tests that play a failover on a
// node's Redis keys and wait for the node to check its presence again
// after its connection is replaced, which its heartbeat rounds do, every
// third of the lapse. Those keys are its life's, and a lapse gives it a new
// life: at testLapse, on a busy machine, the heartbeats of a node whose
// connection was being replaced went through 900 ms apart, and the keys
// the test put back were no longer the node's.
const resyncLapse = 3 * time.Second

// presenceCluster builds n engines of one cluster on the Redis at url.
func presenceCluster(t *testing.T, url string, n int, lapse time.Duration) ([]*redis.Engine, []*recorder) {
	t.Helper()
	cfg := redis.Config{Prefix: uniquePrefix(t), PresenceLapse: lapse}
	es, rs := make([]*redis.Engine, n), make([]*recorder, n)
	for i := range es {
		cfg.NodeID = fmt.Sprintf("node%d", i)
		es[i], rs[i] = newEngine(t, url, cfg), newRecorder()
		es[i].Attach(rs[i])
	}
	return es, rs
}

func mustAdd(t *testing.T, e *redis.Engine, p broker.PresenceEntry) {
	t.Helper()
	if err := e.AddPresence(ctxFor(t), p); err != nil {
		t.Fatalf("AddPresence(%+v): %v", p, err)
	}
}

func mustPresence(t *testing.T, e *redis.Engine, topic string) broker.PresenceState {
	t.Helper()
	st, err := e.Presence(ctxFor(t), topic, broker.PresencePage{MaxBytes: broker.DefaultMaxPresenceBytes})
	if err != nil {
		t.Fatalf("Presence(%q): %v", topic, err)
	}
	return st
}

// kinds describes changes as "+user" for a join and "-user" for a leave.
func kinds(cs []broker.PresenceChange) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = "-" + c.User
		if c.Join {
			out[i] = "+" + c.User
		}
	}
	return out
}

// waitChanges waits until r got want (as kinds gives them) for topic.
func waitChanges(t *testing.T, r *recorder, topic string, want ...string) {
	t.Helper()
	if !eventually(func() bool { return len(r.presenceChanges(topic)) >= len(want) }) {
		t.Fatalf("changes of %q: %v, want %v", topic, kinds(r.presenceChanges(topic)), want)
	}
	if got := kinds(r.presenceChanges(topic)); !slices.Equal(got, want) {
		t.Fatalf("changes of %q: %v, want %v", topic, got, want)
	}
}

// Presence keys of a topic share its slot; a presence call on Cluster
// would fail with CROSSSLOT otherwise, which the contract run on Cluster
// also shows.
func TestPresenceKeysInTopicSlot(t *testing.T) {
	e := newEngine(t, redistest.Start(t).URL(), redis.Config{})
	for _, topic := range []string{"news", "chat.room-7", "user:42.inbox"} {
		keys, _ := redis.PresenceKeys(e, topic, "life")
		for _, k := range keys {
			if tag := hashTag(k); tag != topic {
				t.Errorf("presence key %q has hash tag %q, want %q", k, tag, topic)
			}
		}
	}
}

// hashTag is Redis Cluster's hash tag of key: what lies between its first
// '{' and the next '}', when not empty.
func hashTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						return key[i+1 : j]
					}
					return key
				}
			}
			return key
		}
	}
	return key
}

// The presence script keeps the delivery positions: joins and leaves on a
// topic's channel between its messages are neither messages nor gaps.
func TestChangesDoNotDisturbDelivery(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	es, rs := presenceCluster(t, srv.URL(), 2, time.Minute)
	const topic = "room.mixed"
	mustSubscribe(t, es[1], topic)
	for i := range 5 {
		mustPublish(t, es[0], request(topic))
		mustAdd(t, es[0], broker.PresenceEntry{Topic: topic, Session: fmt.Sprint("s", i), User: fmt.Sprint("u", i)})
	}
	wantSeqs(t, "messages", rs[1].waitFor(t, topic, 5), 1, 5)
	rs[1].checkBreaches(t)
	if gaps := rs[1].gaps(topic); len(gaps) > 0 {
		t.Errorf("gaps %v, though nothing was lost", gaps)
	}
	waitChanges(t, rs[1], topic, "+u0", "+u1", "+u2", "+u3", "+u4")
}

// A presence add is one script call, sent through the publish pipelines:
// concurrent adds share round trips.
func TestPresenceAddsShareRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{Prefix: uniquePrefix(t), PresenceLapse: time.Hour})
	mustAdd(t, e, broker.PresenceEntry{Topic: "first", Session: "s0", User: "u"}) // registers the life
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	calls0 := scriptCalls(t, admin)
	trips0, _ := redis.PublishRoundTrips(e)
	const adders, each = 32, 20
	var wg sync.WaitGroup
	for a := range adders {
		wg.Go(func() {
			for i := range each {
				p := broker.PresenceEntry{Topic: fmt.Sprintf("room.%d", i%4), Session: fmt.Sprintf("s%d-%d", a, i), User: fmt.Sprint("u", a)}
				if err := e.AddPresence(ctxFor(t), p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	trips, _ := redis.PublishRoundTrips(e)
	calls := scriptCalls(t, admin) - calls0
	t.Logf("%d adds: %d scripts in %d round trips", adders*each, calls, trips-trips0)
	// The engine's own heartbeat and resync scripts may run meanwhile, a
	// few at most; a second script per add would be hundreds more.
	if calls < adders*each || calls > adders*each+4 {
		t.Errorf("%d adds ran %d scripts, want one each", adders*each, calls)
	}
	if trips-trips0 >= adders*each {
		t.Errorf("%d adds took %d round trips, want fewer", adders*each, trips-trips0)
	}
	if st := mustPresence(t, e, "room.0"); st.Sessions != adders*each/4 || len(st.Members) != adders {
		t.Errorf("presence of room.0: %d sessions, %d members; want %d and %d", st.Sessions, len(st.Members), adders*each/4, adders)
	}
}

// scriptCalls counts the scripts Redis ran.
func scriptCalls(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	text, err := admin.Info(ctxFor(t), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(text, "\r\n") {
		name, stats, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains([]string{"cmdstat_evalsha", "cmdstat_eval"}, name) {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		n, _ := strconv.Atoi(calls)
		total += n
	}
	return total
}
