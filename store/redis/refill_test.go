package redis_test

import (
	"testing"
	"time"

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
