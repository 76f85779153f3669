package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The lapses of the nodes of TestMixedLapsesKeepPresenceThroughAnOutage.
const (
	shortLapse = 300 * time.Millisecond
	longLapse  = 3 * time.Second
)

// Nodes of one cluster may have lapses of their own (a rolling change of
// the setting has them). Back from an outage of Redis longer than both,
// the node of the short lapse cleans up after the lapsed lives only once
// the node of the long one, which tries its heartbeat again only every
// fifteenth of its lapse, has beaten and taken its entries over: its
// session stays in every presence read, and no leave is reported.
func TestMixedLapsesKeepPresenceThroughAnOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	short := newEngine(t, srv.URL(), redis.Config{NodeID: "short", Prefix: prefix, PresenceLapse: shortLapse})
	long := newEngine(t, srv.URL(), redis.Config{NodeID: "long", Prefix: prefix, PresenceLapse: longLapse})
	var mu sync.Mutex
	var leaves []string
	for _, e := range []*redis.Engine{short, long} {
		e.WatchMembers(func(c broker.PresenceChange) {
			if !c.Join {
				mu.Lock()
				leaves = append(leaves, c.User+" of "+c.Session)
				mu.Unlock()
			}
		})
	}
	const topic = "room.lapses"
	mustAdd(t, long, broker.PresenceEntry{Topic: topic, Session: "long-s", User: "long-u"})
	if !eventually(func() bool { return redis.SlowestLapse(short) >= 2*longLapse/3 }) {
		t.Fatalf("the short node knows of a lapse of %v at most, want the long node's", redis.SlowestLapse(short))
	}

	a := admin(t, srv.Addr())
	do(t, a, "SAVE")
	srv.Stop()
	time.Sleep(longLapse + time.Second) // every life lapses
	srv.Restart()

	// Read until the cleanup after the lapsed lives is over: both nodes
	// beat under new lives, and the registry holds no lapsed one.
	reads, absent := 0, 0
	cleaned := func() bool {
		nodes, err := a.ZRangeWithScores(ctxFor(t), redis.PresenceNodes(short), 0, -1).Result()
		if err != nil || len(nodes) != 2 {
			return false
		}
		now, err := a.Time(ctxFor(t)).Result()
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Score < float64(now.UnixMilli()) {
				return false
			}
		}
		return true
	}
	read := func(e *redis.Engine) bool {
		st, err := e.Presence(ctxFor(t), topic, broker.PresencePage{MaxBytes: broker.DefaultMaxPresenceBytes})
		if err != nil {
			return false // Redis still loading, or the node not back on it yet
		}
		reads++
		if !slices.ContainsFunc(st.Members, func(m broker.Member) bool { return m.User == "long-u" }) {
			absent++
		}
		return true
	}
	if !eventually(func() bool {
		read(short)
		read(long)
		return cleaned()
	}) {
		t.Fatal("the lapsed lives were never cleaned up after")
	}
	// A read by each after: a removal made as the last lapsed life went.
	for _, e := range []*redis.Engine{short, long} {
		if !eventually(func() bool { return read(e) }) {
			t.Fatal("no presence read went through after the cleanup")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d presence reads after the restart", reads)
	if absent > 0 {
		t.Errorf("the long node's user was absent from %d of %d presence reads after the restart", absent, reads)
	}
	if len(leaves) > 0 {
		t.Errorf("leaves reported: %v", leaves)
	}
}

// A node's presence writes keep a topic's changes for twice the longest
// lapse it knows of, not its own only: a node of a longer lapse may be
// away for longer and still find what it missed in the log.
func TestChangeLogKeepsForTheLongestLapse(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	short := newEngine(t, srv.URL(), redis.Config{NodeID: "short", Prefix: prefix, PresenceLapse: shortLapse})
	newEngine(t, srv.URL(), redis.Config{NodeID: "long", Prefix: prefix, PresenceLapse: longLapse})
	if !eventually(func() bool { return redis.SlowestLapse(short) >= 2*longLapse/3 }) {
		t.Fatalf("the short node knows of a lapse of %v at most, want the long node's", redis.SlowestLapse(short))
	}
	ch := changer{t, short, "room.keep.long"}
	logKey := changeLogKey(short, ch.topic)
	ch.add("holder", "") // keeps the topic occupied
	for i := range 125 {
		u := fmt.Sprint("u", i)
		ch.add("s"+u, u)
		ch.remove("s"+u, u)
	}
	// Past what the short node's own lapse would keep (whole stream nodes
	// of 100 changes trimmed), within what the long one's does.
	time.Sleep(redis.ChangeLogKeep(shortLapse) + 100*time.Millisecond)
	ch.add("s-late", "late")
	a := admin(t, srv.Addr())
	if n, err := a.XLen(ctxFor(t), logKey).Result(); err != nil || n != 251 {
		t.Errorf("XLEN %v after the 250 changes and one more = %d, %v; want 251, kept for the long node's lapse (%v)",
			redis.ChangeLogKeep(shortLapse), n, err, redis.ChangeLogKeep(longLapse))
	}
}
