package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Joins and leaves published while a node's pub/sub connection was down
// reach it once it is back, in order, each once, before the live ones.
func TestMissedChangesComeAfterAReconnect(t *testing.T) {
	t.Parallel()
	_, px, other, _, e, rec := watchedPresencePair(t, "room.replay")
	px.Cut()
	ch := changer{t, other, "room.replay"}
	ch.add("s1", "a")
	ch.add("s2", "b")
	ch.remove("s2", "b")
	ch.add("s3", "b")
	ch.add("s4", "a") // a second session: no change
	ch.remove("s1", "a")
	ch.remove("s4", "a")
	px.Restore()
	missed := []string{"+watcher", "+a", "+b", "-b", "+b", "-a"}
	waitChanges(t, rec, "room.replay", missed...)
	if n := redis.ReplayedChanges(e); n != 5 {
		t.Errorf("%d changes handed over from the log, want the 5 missed", n)
	}
	ch.add("s5", "c")
	waitChanges(t, rec, "room.replay", append(missed, "+c")...)
	wantAlternating(t, rec.presenceChanges("room.replay"))
	if st := e.Stats(); st.PresenceGaps != 0 {
		t.Errorf("%d presence gaps counted, though the log held every change missed", st.PresenceGaps)
	}
}

// A node that saw no change of a topic before its connection went down
// still gets the ones it missed, and none from before it subscribed: its
// place in the log was read with the subscription.
func TestMissedChangesComeThoughNoneWasSeenBefore(t *testing.T) {
	t.Parallel()
	_, px, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	ch := changer{t, other, "room.first"}
	ch.add("s0", "earlier")
	mustSubscribe(t, e, "room.first")
	reconnects := e.Stats().Reconnects
	px.Cut()
	ch.add("s1", "a")
	px.Restore()
	waitChanges(t, rec, "room.first", "+a")
	// The leave comes once the connection is back: one made while it is
	// still being replaced is missed too, and read from the log as well.
	if !eventually(func() bool { return e.Stats().Reconnects > reconnects }) {
		t.Fatal("the engine never replaced its pub/sub connection")
	}
	ch.remove("s1", "a")
	waitChanges(t, rec, "room.first", "+a", "-a")
	if n := redis.ReplayedChanges(e); n != 1 {
		t.Errorf("%d changes handed over from the log, want the 1 missed", n)
	}
}

// A change pub/sub lost while the connection stayed up (here: one that
// only reached the log) is found by the link of the next one, and read
// from the log before it.
func TestChangeLostByPubSubAloneIsReadFromTheLog(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e, rec := watchedPresencePair(t, "room.silent")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	logKey := changeLogKey(e, "room.silent")
	last, err := admin.XRevRangeN(ctxFor(t), logKey, "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("the change log's last entry: %v, %v", last, err)
	}
	// As the add script would log a join of "ghost", but unpublished.
	change := "\nj11:room.silent5:ghost2:sx0:"
	if err := admin.XAdd(ctxFor(t), &goredis.XAddArgs{Stream: logKey, Values: []any{"p", last[0].ID, "c", change}}).Err(); err != nil {
		t.Fatal(err)
	}
	changer{t, other, "room.silent"}.add("s1", "a")
	waitChanges(t, rec, "room.silent", "+watcher", "+ghost", "+a")
	if n := redis.ReplayedChanges(e); n != 2 {
		t.Errorf("%d changes handed over from the log, want the lost one and the one held back behind it", n)
	}
}

// More changes than the log keeps went by while the connection was down:
// the node counts the break, hands over what the log still holds, in
// order, and goes on with live changes. The log stays within its bound.
func TestTrimmedChangeLogIsCounted(t *testing.T) {
	t.Parallel()
	srv, px, other, _, e, rec := watchedPresencePair(t, "room.trim")
	px.Cut()
	ch := changer{t, other, "room.trim"}
	var sent []string
	for i := range redis.ChangeLogCap*7/10 + 1 { // past the cap and a stream node's worth of slack
		u := fmt.Sprint("u", i)
		ch.add("s"+u, u)
		ch.remove("s"+u, u)
		sent = append(sent, "+"+u, "-"+u)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if n, err := admin.XLen(ctxFor(t), changeLogKey(e, "room.trim")).Result(); err != nil || n > redis.ChangeLogCap+100 {
		t.Errorf("XLEN of the change log = %d, %v; want at most %d", n, err, redis.ChangeLogCap+100)
	}
	px.Restore()
	if !eventually(func() bool { return e.Stats().PresenceGaps == 1 }) {
		t.Fatalf("presence gaps counted: %d, want 1", e.Stats().PresenceGaps)
	}
	ch.add("late", "z")
	want := append(slices.Clone(sent), "+z")
	if !eventually(func() bool {
		got := kinds(rec.presenceChanges("room.trim"))
		return len(got) > 0 && got[len(got)-1] == "+z"
	}) {
		t.Fatalf("the live change after the break never came: %d changes", len(rec.presenceChanges("room.trim")))
	}
	got := kinds(rec.presenceChanges("room.trim"))
	if got[0] != "+watcher" || len(got) < redis.ChangeLogCap || !slices.Equal(got[1:], want[len(want)-len(got)+1:]) {
		t.Errorf("changes after the break: %d, want +watcher, then the last ones sent in order, then +z", len(got))
	}
	if e.Stats().PresenceGaps != 1 {
		t.Errorf("presence gaps counted: %d, want 1", e.Stats().PresenceGaps)
	}
}

// A log that lost what the node had seen (as a failover to a replica
// that missed its tail does; here it is deleted) is counted, and the
// changes after it are handed over.
func TestChangeLogThatWentBackRestartsTheChain(t *testing.T) {
	t.Parallel()
	srv, px, other, _, e, rec := watchedPresencePair(t, "room.back")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	px.Cut()
	ch := changer{t, other, "room.back"}
	ch.add("s1", "a")
	if err := admin.Del(ctxFor(t), changeLogKey(e, "room.back")).Err(); err != nil {
		t.Fatal(err)
	}
	px.Restore()
	if !eventually(func() bool { return e.Stats().PresenceGaps == 1 }) {
		t.Fatalf("presence gaps counted: %d, want 1", e.Stats().PresenceGaps)
	}
	ch.add("s2", "b")
	ch.remove("s2", "b")
	waitChanges(t, rec, "room.back", "+watcher", "+b", "-b")
}

// A node keeps its place in the change log of each topic it subscribed,
// and of none once they are unsubscribed, however many it held; a topic
// it is present on but did not subscribe gets none.
func TestChangeMarksGoWithTheirTopics(t *testing.T) {
	t.Parallel()
	e := newEngine(t, redistest.Start(t).URL(), redis.Config{PresenceLapse: time.Hour})
	e.Attach(newRecorder())
	const n = 50
	topic := func(i int) string { return fmt.Sprint("room.m", i) }
	for i := range n {
		mustSubscribe(t, e, topic(i))
		changer{t, e, topic(i)}.add("s", "u")
	}
	changer{t, e, "room.unsubscribed"}.add("s", "u")
	if got := redis.ChangeMarks(e); got != n {
		t.Fatalf("%d change marks, want one per subscribed topic: %d", got, n)
	}
	for i := range n {
		changer{t, e, topic(i)}.remove("s", "u")
		if err := e.Unsubscribe(ctxFor(t), topic(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := redis.ChangeMarks(e); got != 0 {
		t.Errorf("%d change marks after every topic was unsubscribed, want none", got)
	}
}

// A change pub/sub brought that does not follow on, and that the log
// does not hold (a failover lost its entry after it was published), is
// counted once as a gap: the mark stops reading the log for it, and the
// next change starts the chain again.
func TestChangeTheLogLostIsCountedOnce(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e, rec := watchedPresencePair(t, "room.ahead")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	now, err := admin.Time(ctxFor(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	// "ghost" joined on a master since lost, with its log's tail: its link
	// names an entry this node never saw either (not one just before now:
	// the watcher's own join may have that ID, and the ghost would follow
	// on).
	link := fmt.Sprintf("1-0 %d-0", now.UnixMilli()+1)
	ghost := fmt.Sprintf("\nj10:room.ahead5:ghost2:sg0:%d:%s", len(link), link)
	if err := admin.Publish(ctxFor(t), redis.TopicChannel(e, "room.ahead"), ghost).Err(); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return e.Stats().PresenceGaps > 0 }) {
		t.Fatal("the change the log lost is not counted as a gap")
	}
	before := commandCalls(t, admin, "xrange")
	time.Sleep(2 * testCheck)
	if n := commandCalls(t, admin, "xrange") - before; n >= redis.ReplayRounds {
		t.Errorf("%d change log reads in two check intervals for a quiet topic: its mark stayed behind", n)
	}
	changer{t, other, "room.ahead"}.add("s1", "a")
	waitChanges(t, rec, "room.ahead", "+watcher", "+a")
	if n := e.Stats().PresenceGaps; n != 1 {
		t.Errorf("%d presence gaps counted, want 1", n)
	}
}

// A change log Redis fails to read leaves its topic behind, and the
// other topics' logs are read all the same. The failure, while it lasts,
// is logged at Warn once, not at every check.
func TestReplayGoesOnPastALogItCannotRead(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	srv, px, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: time.Hour, Logger: logger})
	rec := newRecorder()
	e.Attach(rec)
	for _, topic := range []string{"room.good", "room.bad"} {
		mustSubscribe(t, e, topic)
		mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "e1", User: "watcher"})
		waitChanges(t, rec, topic, "+watcher")
	}
	px.Cut()
	changer{t, other, "room.good"}.add("s1", "a")
	changer{t, other, "room.bad"}.add("s1", "a")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Set(ctxFor(t), changeLogKey(e, "room.bad"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	px.Restore()
	waitChanges(t, rec, "room.good", "+watcher", "+a")
	time.Sleep(4 * testCheck)
	if got := kinds(rec.presenceChanges("room.bad")); !slices.Equal(got, []string{"+watcher"}) {
		t.Errorf("changes of the topic whose log cannot be read: %v, want only +watcher", got)
	}
	if n := logs.FilterMessageSnippet("cannot read presence change logs").Len(); n != 1 {
		t.Errorf("the lasting failure was logged at Warn %d times in four check intervals, want once", n)
	}
}

// During a rolling update, nodes of the release before the change log
// publish joins and leaves without a link. Such a change is handed over
// as it comes, and the linked ones after it go on, with no gap counted.
func TestChangeWithoutALinkIsHandedOver(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e, rec := watchedPresencePair(t, "room.mixed")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	// As the previous release's add script publishes a join of "old".
	if err := admin.Publish(ctxFor(t), redis.TopicChannel(e, "room.mixed"), "\nj10:room.mixed3:old2:s10:").Err(); err != nil {
		t.Fatal(err)
	}
	ch := changer{t, other, "room.mixed"}
	ch.add("s2", "new")
	ch.remove("s2", "new")
	waitChanges(t, rec, "room.mixed", "+watcher", "+old", "+new", "-new")
	if st := e.Stats(); st.PresenceGaps != 0 {
		t.Errorf("%d presence gaps counted for a change without a link", st.PresenceGaps)
	}
}

// wantAlternating fails unless each user's joins and leaves alternate,
// starting with a join.
func wantAlternating(t *testing.T, cs []broker.PresenceChange) {
	t.Helper()
	in := make(map[string]bool)
	for i, c := range cs {
		if c.Join == in[c.User] {
			t.Fatalf("change %d, %v, does not alternate: %v", i, kinds(cs[i:i+1]), kinds(cs))
		}
		in[c.User] = c.Join
	}
}
