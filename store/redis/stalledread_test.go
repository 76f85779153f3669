package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// stalledReads runs a Redis, a publishing node on it, and a subscribing
// engine that reaches it through a proxy, subscribed to "hole" and
// "other" and handed seq 1 of "hole". Its timeout outlasts every wait of
// the test: a read the proxy holds ends when the test releases it.
func stalledReads(t *testing.T) (srv *redistest.Server, prefix string, pub node, sub node, px *redistest.Proxy) {
	t.Helper()
	srv = redistest.Start(t)
	px = redistest.StartProxy(t, srv.Addr())
	prefix = uniquePrefix(t)
	pub = cluster(t, srv, 1, redis.Config{Prefix: prefix, HistorySize: 100})[0]
	// No periodic check: only the reads the test makes go to history. No
	// periodic probe either, beside the test's check (CheckLater).
	sub.Engine = newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "sub",
		HistorySize: 100, CheckInterval: time.Hour, ProbeInterval: time.Hour, Timeout: 4 * waitTimeout})
	sub.rec = newRecorder()
	sub.Attach(sub.rec)
	t.Cleanup(px.Release) // before the engine's Close
	mustSubscribe(t, sub, "hole")
	mustSubscribe(t, sub, "other")
	first := mustPublish(t, pub, request("hole"))
	sub.rec.waitCovered(t, "hole", first.Epoch, 1)
	return srv, prefix, pub, sub, px
}

// A message after a hole waits while the hole is read, and the other
// topics of its pub/sub connection are delivered meanwhile, however long
// Redis takes to answer that read; once it does, the topic is handed
// over whole and in order.
func TestStalledHoleReadHoldsUpNoOtherTopic(t *testing.T) {
	srv, prefix, pub, sub, px := stalledReads(t)
	px.Hold(prefix + "{hole}:hist") // every read of the topic's history
	inject(t, srv, prefix, "hole")  // seq 2: pub/sub lost it
	last := mustPublish(t, pub, request("hole"))
	// The refill goroutine sends the read, not the receive loop that found
	// the hole, so the read may still be on its way when other's message
	// is delivered.
	if !eventually(func() bool { return px.Held() > 0 }) {
		t.Fatal("the hole was not read")
	}
	other := mustPublish(t, pub, request("other"))
	sub.rec.waitCovered(t, "other", other.Epoch, 1)
	if got := summary(sub.rec.covered("hole")); got != "m1-1" {
		t.Fatalf("while the hole is read: %s, want m1-1", got)
	}
	px.Release()
	if got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, last.Seq)); got != "m1-3" {
		t.Fatalf("once the hole was read: %s, want m1-3", got)
	}
	sub.rec.checkBreaches(t)
}

// A check reads history without holding up the delivery of the topic it
// reads, nor with it the other topics of its connection.
func TestStalledCheckReadHoldsUpNoOtherTopic(t *testing.T) {
	srv, prefix, pub, sub, px := stalledReads(t)
	check := redis.CheckLater(sub.Engine)
	px.Hold(prefix + "{hole}:hist")
	inject(t, srv, prefix, "hole") // seq 2, which the check finds missing
	checked := make(chan error, 1)
	go func() { checked <- check() }() // the test waits for it below
	if !eventually(func() bool { return px.Held() > 0 }) {
		t.Fatal("the check did not read the topic's history")
	}
	last := mustPublish(t, pub, request("hole"))
	other := mustPublish(t, pub, request("other"))
	sub.rec.waitCovered(t, "other", other.Epoch, 1)
	px.Release()
	if err := <-checked; err != nil {
		t.Fatalf("check: %v", err)
	}
	if got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, last.Seq)); got != "m1-3" {
		t.Fatalf("after the check: %s, want m1-3", got)
	}
	sub.rec.checkBreaches(t)
}
