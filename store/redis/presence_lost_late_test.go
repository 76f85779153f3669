//go:build unix

package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node whose check of the joins sent after a failover comes as late as
// a check may, held by the patience (ten lapses past its due time) and
// its reconnect a lapse after the reporter's, still finds the record of
// the leave the first node reported, and reports nothing: the backend is
// told once, whatever the webhooks' sender still remembers. Run at the
// default lapse, where that is 2 min 45 s; rather than wait it out, the
// test takes that time off the record's life in Redis. Kept 2 min, the
// record was gone and the late node reported the leave again.
func TestLostJoinsLeaveIsToldOnceToALateCheck(t *testing.T) {
	t.Parallel()
	const topic = "room.late"
	const lapse = redis.DefaultPresenceLapse
	srv := redistest.Start(t)
	es, _ := presenceCluster(t, srv.URL(), 3, lapse)
	told := watchMembers(es)
	a, b, c := es[0], es[1], es[2]
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, c, dave)
	told[2].take()
	admin := admin(t, srv.Addr())
	losePresence(t, admin, a, topic, dave.Session, dave.User)

	sent := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if gone, err := a.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("a's LostJoins: %v, %v; want [dave]", gone, err)
	}
	if left := told[0].take(); len(left) != 1 || left[0].Join || left[0].User != "dave" {
		t.Fatalf("a, the first to check, was told %+v, want dave's leave", left)
	}

	record := redis.LostJoinsRecord(a, topic)
	late := redis.LostJoinsPatience(lapse) + lapse
	left := do(t, admin, "PTTL", record).(int64)
	if left <= 0 {
		t.Fatalf("the record of dave's reported leave has %d ms left", left)
	}
	do(t, admin, "PEXPIRE", record, left-late.Milliseconds()) // 0 or less deletes it

	if gone, err := b.LostJoins(ctxFor(t), topic, sent); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("b's LostJoins: %v, %v; want [dave]", gone, err)
	}
	if got := append(told[1].take(), told[0].take()...); len(got) != 0 {
		t.Fatalf("a check %v after the first was told %+v: the backend would get dave's member_removed twice (the record had %d ms left)", late, got, left)
	}
}

// Nodes of one cluster may have lapses of their own, and a node's check
// of the joins sent waits up to its own patience (ten of its lapses):
// the record of a leave reported by a node of a short lapse is kept for
// the longest lapse a live node has, so that the late check of a node
// of a long one still finds it. Kept by the reporter's lapse (7.2 s
// here), it was gone minutes before such a check, which reported the
// leave again.
func TestLostJoinsRecordOutlastsTheLongestLapsesPatience(t *testing.T) {
	t.Parallel()
	const long = time.Minute
	left := lostJoinsRecordKeptBeside(t, long)
	if patience := redis.LostJoinsPatience(long); left < patience {
		t.Fatalf("the record of ghost's reported leave is kept %v, less than the %v a check of the node of the %v lapse may wait", left, patience, long)
	}
}

// A node whose registration shows a lapse far longer than any node's
// should have (one misconfigured, or a time left read off a master whose
// clock went back) has the records of the leaves reported kept no longer
// than those of a node of the longest lapse counted: a month's lapse had
// them kept 540 days, and 25 years' overflowed the keep to less than
// nothing, and the record was deleted as it was written, so that every
// other node reported the leave again.
func TestLostJoinsRecordKeepIsBoundedWhateverALapseShows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		lapse time.Duration
	}{
		{"a month", 30 * 24 * time.Hour},
		{"25 years", 25 * 365 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			left := lostJoinsRecordKeptBeside(t, tc.lapse)
			if left <= 0 || left > redis.MaxLostLeaveKeep {
				t.Fatalf("beside a node of a lapse of %v, the record of ghost's reported leave is kept %v, want more than 0 and at most %v", tc.lapse, left, redis.MaxLostLeaveKeep)
			}
		})
	}
}

// lostJoinsRecordKeptBeside returns how long Redis keeps the record of a
// lost join's leave that a node of testLapse reported in its check after
// a reconnect, beside a live node of lapse (its PTTL: -2 when it is gone).
func lostJoinsRecordKeptBeside(t *testing.T, lapse time.Duration) time.Duration {
	t.Helper()
	const topic = "room.lapses"
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	short := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "short", PresenceLapse: testLapse})
	other := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "other", PresenceLapse: lapse})
	admin := admin(t, srv.Addr())
	if !eventually(func() bool {
		return admin.ZScore(ctxFor(t), redis.PresenceNodes(other), redis.PresenceLife(other)).Val() > 0
	}) {
		t.Fatalf("the node of the %v lapse never beat", lapse)
	}
	finder := &lostJoinFinder{recorder: newRecorder(), engine: short, topic: topic, found: make(chan []string, 1)}
	short.Attach(finder)

	// Until short has a pub/sub connection to break, and has seen it replaced.
	reconnects := short.Stats().Reconnects
	if !eventually(func() bool {
		do(t, admin, "CLIENT", "KILL", "TYPE", "pubsub")
		return short.Stats().Reconnects > reconnects
	}) {
		t.Fatal("the node of the short lapse never reconnected")
	}
	select {
	case <-finder.found:
	case <-ctxFor(t).Done():
		t.Fatalf("the check after the reconnect never found ghost's join lost (checks run: %d)", redis.LostJoinsRuns(short))
	}
	return time.Duration(do(t, admin, "PTTL", redis.LostJoinsRecord(short, topic)).(int64)) * time.Millisecond
}

// The record of a lost join's reported leave is kept for the longest
// lapse the reporting node knows of, as its heartbeat read it off the
// registry before an outage of Redis: right after the outage the registry
// may lack the registration of a live node of a long lapse (a failover
// lost it, and the node, beating every third of its lapse, has not beaten
// again yet), and read off the registry then, the record was kept for
// the reporter's own lapse only (10.8 s here, the other node's check
// waiting up to 50 minutes).
func TestLostJoinsRecordKeepsTheLapseKnownBeforeAnOutage(t *testing.T) {
	t.Parallel()
	const topic = "room.outage"
	const long = 5 * time.Minute
	srv := redistest.Start(t)
	toShort := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	short := newEngine(t, "redis://"+toShort.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "short", PresenceLapse: testLapse})
	other := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "other", PresenceLapse: long})
	if !eventually(func() bool { return redis.SlowestLapse(short) >= long }) {
		t.Fatalf("the node of the short lapse knows of a lapse of %v at most, want the other's %v", redis.SlowestLapse(short), long)
	}
	finder := &lostJoinFinder{recorder: newRecorder(), engine: short, topic: topic, found: make(chan []string, 1)}
	short.Attach(finder)

	// The other node's registration is lost, and it beats no more in the
	// test (it would beat again only minutes later); the short node is
	// cut off from Redis until its own registration lapsed.
	admin := admin(t, srv.Addr())
	redis.Die(other)
	do(t, admin, "ZREM", redis.PresenceNodes(other), redis.PresenceLife(other))
	life := redis.PresenceLife(short)
	reconnects := short.Stats().Reconnects
	toShort.Cut()
	if !eventually(func() bool {
		score, err := admin.ZScore(ctxFor(t), redis.PresenceNodes(short), life).Result()
		now, terr := admin.Time(ctxFor(t)).Result()
		return err == nil && terr == nil && score < float64(now.UnixMilli())
	}) {
		t.Fatal("the short node's registration never lapsed while it was cut off")
	}
	toShort.Restore()

	select {
	case <-finder.found:
	case <-ctxFor(t).Done():
		t.Fatalf("the check after the reconnect never found ghost's join lost (reconnects %d, then %d; checks run: %d)",
			reconnects, short.Stats().Reconnects, redis.LostJoinsRuns(short))
	}
	left := time.Duration(do(t, admin, "PTTL", redis.LostJoinsRecord(short, topic)).(int64)) * time.Millisecond
	if patience := redis.LostJoinsPatience(long); left < patience {
		t.Fatalf("the record of ghost's reported leave is kept %v, less than the %v a check of the node of the %v lapse may wait", left, patience, long)
	}
}
