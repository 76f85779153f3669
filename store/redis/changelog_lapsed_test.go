package redis_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// A gone log's end is kept for a while only (changes.go): a topic that
// goes longer without a change, while it has entries that make none or
// before its next join, starts its next log from nothing. The end's
// lapse is made here by deleting it.

// A node whose link stayed up hands the new log's first change over as
// following on from the old log's end, and counts no gap: whatever came
// in between would have come first.
func TestChangesGoOnPastALapsedLogEnd(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "up", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	admin := admin(t, srv.Addr())
	ch := changer{t, other, "room.lapse"}
	ch.add("s1", "a")
	ch.remove("s1", "a") // the log goes, its end stays
	// A subscriber that comes now starts at the end, and its anonymous
	// entry makes no change: the topic has an entry and no log.
	mustSubscribe(t, e, "room.lapse")
	mustAdd(t, e, broker.PresenceEntry{Topic: "room.lapse", Session: "anon"})
	lapseLogEnd(t, admin, e, "room.lapse")
	ch.add("s2", "b")
	ch.remove("s2", "b")
	waitChanges(t, rec, "room.lapse", "+b", "-b")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted for a log that started anew past a lapsed end, want none", n)
	}
	// And once more from a mark the node took past a change it was
	// handed: the topic empties, and the log goes with b's leave.
	if err := e.RemovePresence(ctxFor(t), broker.PresenceEntry{Topic: "room.lapse", Session: "anon"}); err != nil {
		t.Fatal(err)
	}
	lapseLogEnd(t, admin, e, "room.lapse")
	ch.add("s3", "c")
	waitChanges(t, rec, "room.lapse", "+b", "-b", "+c")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted, want none", n)
	}
}

// A node's first watch may start after a topic was subscribed on the
// connection it never replaced. That topic's mark missed nothing, and
// the watch's look at what replaced connections lost leaves it be: a log
// started anew past a lapsed end follows on from it all the same.
func TestAFirstWatchAfterASubscribeCountsNoGap(t *testing.T) {
	t.Parallel()
	srv, _, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "first", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	admin := admin(t, srv.Addr())
	ch := changer{t, other, "room.firstwatch"}
	ch.add("s1", "a")
	ch.remove("s1", "a")
	mustSubscribe(t, e, "room.firstwatch")
	mustAdd(t, e, broker.PresenceEntry{Topic: "room.firstwatch", Session: "anon"})
	lapseLogEnd(t, admin, e, "room.firstwatch")
	redis.WatchStarts(e)
	ch.add("s2", "b")
	ch.remove("s2", "b")
	waitChanges(t, rec, "room.firstwatch", "+b", "-b")
	if n := e.Stats().PresenceGaps; n != 0 {
		t.Errorf("%d presence gaps counted by a node that never lost its link, want none", n)
	}
}

// A node whose link was down while a whole log came and went, and its
// end lapsed, missed that log: it counts the gap, and hands the next
// log's changes over.
func TestLogMissedWhileCutPastALapsedEndIsCounted(t *testing.T) {
	t.Parallel()
	srv, px, other, _, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	admin := admin(t, srv.Addr())
	mustSubscribe(t, e, "room.cutlapse")
	ch := changer{t, other, "room.cutlapse"}
	ch.add("s1", "a")
	ch.remove("s1", "a")
	waitChanges(t, rec, "room.cutlapse", "+a", "-a")
	px.Cut()
	lapseLogEnd(t, admin, e, "room.cutlapse")
	ch.add("s2", "b") // a log of its own, missed whole
	ch.remove("s2", "b")
	lapseLogEnd(t, admin, e, "room.cutlapse")
	px.Restore()
	ch.add("s3", "c")
	waitChanges(t, rec, "room.cutlapse", "+a", "-a", "+c")
	if n := e.Stats().PresenceGaps; n != 1 {
		t.Errorf("%d presence gaps counted for a log missed whole, want 1", n)
	}
}

// lapseLogEnd deletes the end that topic's gone log keeps, as its lapse
// does, and returns once Redis's clock is past the end's millisecond, as
// it is changeLogKeep after: a log started in that millisecond would get
// an ID at or before the end.
func lapseLogEnd(t *testing.T, admin *goredis.Client, e *redis.Engine, topic string) {
	t.Helper()
	end, err := admin.GetDel(ctxFor(t), logEndKey(e, topic)).Result()
	if err != nil {
		t.Fatalf("the end of %s's gone log: %v", topic, err)
	}
	msPart, _, _ := strings.Cut(end, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		t.Fatalf("the end of %s's gone log, %q: %v", topic, end, err)
	}
	for {
		now, err := admin.Time(ctxFor(t)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if now.UnixMilli() > ms {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
