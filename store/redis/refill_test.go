package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// holeBehind has sub (of nodes sharing srv under prefix) deliver seq 1 of
// topic, then has its reads of history fail until the test releases them
// (a check under way finds nothing to hand over), and puts seqs
// 2..1+hole in history without publishing them, as pub/sub losing them
// would.
func holeBehind(t *testing.T, srv *redistest.Server, prefix string, pub, sub node, topic string, hole int) {
	t.Helper()
	mustSubscribe(t, sub, topic)
	first := mustPublish(t, pub, request(topic))
	sub.rec.waitCovered(t, topic, first.Epoch, 1)
	redis.FailHistoryReads(sub.Engine, 1<<40)
	t.Cleanup(func() { redis.FailHistoryReads(sub.Engine, 0) })
	for range hole {
		inject(t, srv, prefix, topic)
	}
}

// A hole that history holds is never reported as a gap because reading it
// failed for a while, as it does in a failover while the command client
// still dials the old master: the messages after it wait, in order, and
// every other topic is delivered meanwhile.
func TestHoleReadFailingForAWhileIsFilledLater(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// No periodic check: only reading the hole again can fill it.
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 100, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "other")
	holeBehind(t, srv, prefix, pub, sub, "hole", 30) // seqs 2..31

	mustPublish(t, pub, request("hole")) // seq 32, after the hole
	other := mustPublish(t, pub, request("other"))
	sub.rec.waitCovered(t, "other", other.Epoch, 1)
	for range 10 {
		mustPublish(t, pub, request("hole")) // held behind the hole too
	}
	// Every message went through the receive loop before other's second.
	other = mustPublish(t, pub, request("other"))
	sub.rec.waitCovered(t, "other", other.Epoch, 2)
	if got := summary(sub.rec.covered("hole")); got != "m1-1" {
		t.Fatalf("while the hole cannot be read: %s, want m1-1", got)
	}

	redis.FailHistoryReads(sub.Engine, 0)
	last := mustPublish(t, pub, request("hole")) // seq 43
	got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, 43))
	if want := "m1-43"; got != want {
		t.Fatalf("once the hole can be read: %s, want %s", got, want)
	}
	sub.rec.checkBreaches(t)
}

// Reads of a hole that keep failing for CheckInterval report it as a gap,
// and the messages held behind it are handed over.
func TestHoleReadFailingForLongIsAGap(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 100, CheckInterval: 200 * time.Millisecond})
	pub, sub := nodes[0], nodes[1]
	holeBehind(t, srv, prefix, pub, sub, "hole", 30)

	mustPublish(t, pub, request("hole"))
	last := mustPublish(t, pub, request("hole"))
	got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, last.Seq))
	if want := "m1-1 g2-31 m32-33"; got != want {
		t.Fatalf("after reads failed for a check interval: %s, want %s", got, want)
	}
	sub.rec.checkBreaches(t)
}

// A topic holds no more than HistorySize messages behind a hole: with so
// many after it, history no longer holds the hole, which is reported as a
// gap, and what was held is handed over.
func TestHeldMessagesAreBoundedByHistory(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "other")
	holeBehind(t, srv, prefix, pub, sub, "hole", 5) // seqs 2..6

	for range 10 {
		mustPublish(t, pub, request("hole")) // seqs 7..16: held
	}
	other := mustPublish(t, pub, request("other")) // after them on the one connection
	sub.rec.waitCovered(t, "other", other.Epoch, 1)
	if got := summary(sub.rec.covered("hole")); got != "m1-1" {
		t.Fatalf("with 10 held: %s, want m1-1", got)
	}
	last := mustPublish(t, pub, request("hole")) // the 11th
	got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, 17))
	if want := "m1-1 g2-6 m7-17"; got != want {
		t.Fatalf("past 10 held: %s, want %s", got, want)
	}
	sub.rec.checkBreaches(t)
}

// A hole read after Redis lost its script cache is read all the same: the
// reads of holes go in pipelines by the script's SHA, and one that Redis
// no longer knows is sent again with the script.
func TestHoleReadAfterScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 100, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "hole")
	first := mustPublish(t, pub, request("hole"))
	sub.rec.waitCovered(t, "hole", first.Epoch, 1)
	do(t, admin(t, srv.Addr()), "SCRIPT", "FLUSH")
	inject(t, srv, prefix, "hole")
	last := mustPublish(t, pub, request("hole"))
	if got := summary(sub.rec.waitCovered(t, "hole", last.Epoch, last.Seq)); got != "m1-3" {
		t.Fatalf("after the script cache was flushed: %s, want m1-3", got)
	}
	sub.rec.checkBreaches(t)
}

// The holes read in one pipeline bring back no more messages than one
// hole can (HistorySize): those that would bring more are read in the
// next. Each message may be as large as a publish allows, and up to
// refillBatch holes wait for one read.
func TestHolesReadTogetherBringNoMoreThanOneCan(t *testing.T) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	const size = 10
	pub := cluster(t, srv, 1, redis.Config{Prefix: prefix, HistorySize: size})[0]
	sub := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "sub",
		HistorySize: size, CheckInterval: time.Hour, ProbeInterval: time.Hour, Timeout: 4 * waitTimeout})
	rec := newRecorder()
	sub.Attach(rec)
	t.Cleanup(px.Release) // before the engine's Close
	topics := []string{"stall", "a", "b", "c"}
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
		first := mustPublish(t, pub, request(topic))
		rec.waitCovered(t, topic, first.Epoch, 1)
	}
	// A read of holes in flight, which the others wait for.
	px.Hold(prefix + "{stall}:hist")
	inject(t, srv, prefix, "stall")
	stalled := mustPublish(t, pub, request("stall"))
	if !eventually(func() bool { return px.Held() > 0 }) {
		t.Fatal("the hole of stall was not read")
	}
	// Two holes of size-2 seqs each: together more than one can be.
	last := map[string]broker.PublishResult{}
	for _, topic := range topics[1:3] {
		for range size - 2 {
			inject(t, srv, prefix, topic)
		}
		last[topic] = mustPublish(t, pub, request(topic))
	}
	c := mustPublish(t, pub, request("c")) // once it is handed over, so were the others to the receive loop
	rec.waitCovered(t, "c", c.Epoch, 2)
	px.Release()

	rec.waitCovered(t, "stall", stalled.Epoch, stalled.Seq)
	for topic, res := range last {
		if got, want := summary(rec.waitCovered(t, topic, res.Epoch, res.Seq)), fmt.Sprintf("m1-%d", res.Seq); got != want {
			t.Errorf("%s: %s, want %s", topic, got, want)
		}
	}
	if most := redis.MostRefilled(sub); most > size {
		t.Errorf("one read of holes brought %d messages, want %d at most", most, size)
	}
	rec.checkBreaches(t)
}
