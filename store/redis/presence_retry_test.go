package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The messages the tests of the heartbeat's tries count.
const (
	beatFailed   = "presence heartbeat failed"
	resyncFailed = "presence not checked against Redis after a reconnect; trying again"
	heldFailed   = "webhook topics not checked against Redis; trying again"
)

// A node whose heartbeat fails tries it again every fifteenth of the
// lapse, and those tries send the heartbeat alone: a resync owed after a
// reconnect, which adds every entry again (a script each, on masters that
// may be up while the heartbeats' fails over), is tried at the heartbeats'
// period meanwhile, not with every try.
func TestRetriedHeartbeatsRunNothingElse(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	srv, px, _, _, e := proxiedPresencePair(t, redis.Config{NodeID: "beating", PresenceLapse: resyncLapse, Logger: zap.New(core)})
	const topic = "room.beat"
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "s1", User: "u1"})

	// A key of the wrong type fails the script that reaches it: the
	// heartbeat, and the resync's add of s1.
	keys, _ := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	breakKeys(t, srv, keys[0], redis.PresenceNodes(e))
	px.Cut()
	px.Restore()

	count := func(msg string) int { return logs.FilterMessage(msg).Len() }
	if !eventually(func() bool { return count(resyncFailed) > 0 }) {
		t.Fatal("the resync after the reconnect never failed")
	}
	beats, resyncs := count(beatFailed), count(resyncFailed)
	const tries = 20 // four periods of the heartbeat
	if !eventually(func() bool { return count(beatFailed) >= beats+tries }) {
		t.Fatalf("%d heartbeats failed, want %d more", count(beatFailed)-beats, tries)
	}
	beats, resyncs = count(beatFailed)-beats, count(resyncFailed)-resyncs
	t.Logf("%d resyncs tried with %d heartbeats", resyncs, beats)
	if 2*resyncs > beats {
		t.Errorf("%d resyncs tried with %d heartbeats, want one with each period (five heartbeats)", resyncs, beats)
	}
}

// A node whose resync after a reconnect failed tries it again with its
// heartbeat's tries, every fifteenth of the lapse, rather than at the
// next period: the others' checks 5 s after their own reconnect, and
// their cleanup after nodes they find lapsed, count on its entries being
// back by then. The other steps of a round keep the period: the check of
// the webhook topics held, failing too, is tried once a period.
func TestFailedResyncIsTriedAgainWithTheHeartbeat(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	srv, px, _, _, e := proxiedPresencePair(t, redis.Config{NodeID: "resyncing", PresenceLapse: resyncLapse, Logger: zap.New(core)})
	const topic = "room.resync"
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "s1", User: "u1"})
	if _, err := e.OccupyTopic(ctxFor(t), topic, "resyncing", []byte("occupied"), []byte("vacated"), 100, 100); err != nil {
		t.Fatal(err)
	}
	keys, _ := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	breakKeys(t, srv, keys[0], redis.HeldTopicsKey(e, "resyncing"))
	px.Cut()
	px.Restore()

	count := func(msg string) int { return logs.FilterMessage(msg).Len() }
	if !eventually(func() bool { return count(heldFailed) > 0 }) {
		t.Fatal("the check of the webhook topics after the reconnect never failed")
	}
	periods, resyncs := count(heldFailed), count(resyncFailed)
	// Past the first period the reconnect's rounds come with more checks
	// than the period's (one for each connection replaced, and the
	// check of the joins sent): counted in, they still leave over three
	// resyncs a check.
	const more = 8
	if !eventually(func() bool { return count(heldFailed) >= periods+more }) {
		t.Fatalf("%d checks of the webhook topics failed, want %d more", count(heldFailed)-periods, more)
	}
	periods, resyncs = count(heldFailed)-periods, count(resyncFailed)-resyncs
	t.Logf("%d resyncs tried in %d periods", resyncs, periods)
	if resyncs < 2*periods {
		t.Errorf("%d resyncs tried in %d periods, want one with each heartbeat (five a period)", resyncs, periods)
	}
	if n := count(beatFailed); n > 0 {
		t.Errorf("%d heartbeats failed, want none", n)
	}
}

// breakKeys replaces keys on srv by strings, which fail the scripts and
// reads that reach them.
func breakKeys(t *testing.T, srv *redistest.Server, keys ...string) {
	t.Helper()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := ctxFor(t)
	for _, key := range keys {
		if err := admin.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if err := admin.Set(ctx, key, "not what the node keeps there", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
