package redis_test

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A topic a check finds behind what its subscriber got, on a Redis full
// after a restart from an older snapshot, is read on connections that
// need no stamp, while its rebase waits for the stamp: every check tries
// the rebase again until Redis takes writes. The divergence and the
// refusal are told at Warn once, not at each try (a snapshot sets back
// every topic published to since, each tried at every check for as long
// as Redis stays full), and no rebase is counted until one goes through.
func TestRebaseRefusedWhileFullIsToldOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	core, logs := observer.New(zap.DebugLevel)
	prefix := uniquePrefix(t)
	pub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	sub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10, CheckInterval: 100 * time.Millisecond,
		Logger: zap.New(core)})
	rec := newRecorder()
	sub.Attach(rec)
	const topic = "refused"
	mustSubscribe(t, sub, topic)
	var third broker.PublishResult
	for i := range 5 {
		if res := mustPublish(t, pub, request(topic)); i == 2 {
			third = res
		}
	}
	rec.waitFor(t, topic, 5)

	// Set back as a snapshot taken at the third publish holds it.
	setBackToSnapshot(t, a, prefix, topic, third)
	f := standaloneFull(t, srv, prefix)
	f.makeFull(t, a)
	f.breakPubSub(t) // the topic is checked once the connection is back
	refused := func() *observer.ObservedLogs { return logs.FilterMessageSnippet("cannot start a new epoch now") }
	if !eventually(func() bool { return refused().Len() >= 3 }) {
		t.Fatalf("%d rebases refused, want 3 or more: %v", refused().Len(), logs.All())
	}
	warned := logs.FilterLevelExact(zap.WarnLevel)
	if n := warned.FilterMessageSnippet("seq went back").Len(); n != 1 {
		t.Errorf("the topic's seq going back was told at Warn %d times over %d tries, want once", n, refused().Len())
	}
	if n := warned.FilterMessageSnippet("cannot start a new epoch now").Len(); n != 1 {
		t.Errorf("the refused rebase was told at Warn %d times over %d tries, want once", n, refused().Len())
	}
	if n := sub.Stats().Rebases; n != 0 {
		t.Errorf("%d rebases counted while Redis refused them all, want 0", n)
	}

	do(t, a, "CONFIG", "SET", "maxmemory", "0")
	if !eventually(func() bool { return sub.Stats().Rebases == 1 }) {
		t.Fatalf("%d rebases once Redis took writes again, want 1", sub.Stats().Rebases)
	}
	next := publishOnceBack(t, pub, topic)
	if got := rec.waitFor(t, topic, 6); got[5].ID != next.ID || got[5].Epoch == third.Epoch {
		t.Fatalf("delivered %s (%s/%d) after the rebase, want %s in a new epoch", got[5].ID, got[5].Epoch, got[5].Seq, next.ID)
	}
	rec.checkBreaches(t)
}
