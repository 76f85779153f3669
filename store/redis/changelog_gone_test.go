package redis_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A topic's change log goes with its last presence entry (changelog_test.go):
// what nodes, their subscriptions and their replays make of a log gone and
// the next one started.

// A topic's log goes with its last entry, and the next change starts a
// new one, which goes on from the ID the old one's end keeps. A node
// subscribed there without an entry of its own (between its subscribe
// and its entry, or its last entry and its unsubscribe) hands the new
// log's changes over as following on, and a replay that finds the log
// gone where its mark stands finds nothing missed.
func TestChangesGoOnAcrossLogs(t *testing.T) {
	t.Parallel()
	srv, px, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "watching", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, "room.renew")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ch := changer{t, other, "room.renew"}
	ch.add("s1", "a")
	ch.remove("s1", "a")
	if n, err := admin.Exists(ctxFor(t), changeLogKey(e, "room.renew")).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS of the log once the topic is empty = %d, %v; want it gone", n, err)
	}
	ch.add("s2", "b") // in the same millisecond as a's leave, as a rule
	ch.remove("s2", "b")
	waitChanges(t, rec, "room.renew", "+a", "-a", "+b", "-b")
	px.Cut() // the replay after it finds the log gone, past nothing missed
	px.Restore()
	ch.add("s3", "c")
	waitChanges(t, rec, "room.renew", "+a", "-a", "+b", "-b", "+c")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted for logs that went with the topic's last entry, want none", n)
	}
}

// A node whose link was down while a log went and a new one started
// missed the old log's last changes: it counts a gap, hands over the new
// log's, and goes on.
func TestMissedEndOfAGoneLogIsCounted(t *testing.T) {
	t.Parallel()
	_, px, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, "room.gone")
	ch := changer{t, other, "room.gone"}
	ch.add("s1", "a")
	waitChanges(t, rec, "room.gone", "+a")
	px.Cut()
	ch.remove("s1", "a") // the log goes with it
	ch.add("s2", "b")
	px.Restore()
	waitChanges(t, rec, "room.gone", "+a", "+b")
	ch.remove("s2", "b")
	waitChanges(t, rec, "room.gone", "+a", "+b", "-b")
	if n := e.Stats().PresenceGaps; n != 1 {
		t.Errorf("%d presence gaps counted, want 1", n)
	}
}

// A subscription that starts just after its topic's log went starts at
// the ID the log's end keeps: the change that took the log, still on its
// way, is not handed over, and the next log's first change follows on.
func TestSubscriptionStartsAtAGoneLogsEnd(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "late", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ch := changer{t, other, "room.late"}
	ch.add("s1", "a")
	ch.remove("s1", "a")
	end, err := admin.Get(ctxFor(t), logEndKey(e, "room.late")).Result()
	if err != nil {
		t.Fatalf("the log's end: %v", err)
	}
	mustSubscribe(t, e, "room.late")
	// a's leave, as if its publish reached the node only now.
	link := "0-1 " + end
	if err := admin.Publish(ctxFor(t), redis.TopicChannel(e, "room.late"),
		fmt.Sprintf("\nl9:room.late1:a2:s10:%d:%s", len(link), link)).Err(); err != nil {
		t.Fatal(err)
	}
	ch.add("s2", "b")
	waitChanges(t, rec, "room.late", "+b")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted, want none", n)
	}
}

// A replay that finds a log gone may run while the change that took it
// is still on its way over pub/sub: the replay waits for it, and hands
// it over in its place, with no gap.
func TestReplayWaitsForTheChangeThatTookTheLog(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	other := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, PresenceLapse: time.Hour})
	// No probe or check of its own while its receive loop is held: it
	// would find the connection stuck, and replace it. The timeout is long
	// enough for its first watch's probe on a busy machine: one timed out,
	// the connection was replaced, and every probe of the replacement met
	// the held loop.
	e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, PresenceLapse: time.Hour, ProbeInterval: time.Hour, CheckInterval: time.Hour,
		Timeout: 5 * time.Second})
	rec := holdingRecorder{recorder: newRecorder(), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(rec.release) }) }
	t.Cleanup(release)
	e.Attach(rec)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	mustSubscribe(t, e, "room.hold")
	mustSubscribe(t, e, "room.took")
	mustSubscribe(t, e, "room.mark")
	readLog := func() { // by a replay, once the supervisor takes the nudge
		t.Helper()
		reads := commandCalls(t, admin, "xrange")
		if !eventually(func() bool {
			redis.MarkBehind(e, "room.took")
			return commandCalls(t, admin, "xrange") > reads
		}) {
			t.Fatal("the log was never read")
		}
	}
	readLog()
	// The first watch ends with a probe through e's receive loop. Held
	// behind room.hold, its copy would not come back: the connection would
	// be replaced and the test would watch that instead. A message
	// published once the probe is sent comes after its copy, so once it
	// is handed over the watch is over, and no check or probe of e's own
	// comes now. (A busy machine let the hold start with the probe still
	// out.)
	if !eventually(func() bool { return redis.Probes(e) > 0 }) {
		t.Fatal("e never probed its connection")
	}
	mustPublish(t, other, request("room.mark"))
	rec.waitFor(t, "room.mark", 1)
	took := changer{t, other, "room.took"}
	took.add("s1", "a")
	waitChanges(t, rec.recorder, "room.took", "+a")
	mustPublish(t, other, request("room.hold")) // holds e's receive loop
	rec.waitFor(t, "room.hold", 1)
	took.remove("s1", "a") // the log goes; the leave waits behind the hold
	readLog()
	release()
	waitChanges(t, rec.recorder, "room.took", "+a", "-a")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted, want none", n)
	}
}

// holdingRecorder is a recorder that holds the receive loop that hands it
// a message of topic room.hold until release is closed.
type holdingRecorder struct {
	*recorder
	release chan struct{}
}

func (h holdingRecorder) HandleMessage(m *broker.Message) {
	h.recorder.HandleMessage(m)
	if m.Topic == "room.hold" {
		<-h.release
	}
}
