package redis_test

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Periodic checks read the positions of topics with recent traffic only:
// a node that once delivered many topics through a pattern reads none of
// them while they are idle, and all of them once after a reconnect.
func TestPeriodicCheckFollowsRecentTraffic(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	const check, topics = 50 * time.Millisecond, 300
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10, CheckInterval: check})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, ">")
	for i := range topics {
		mustPublish(t, pub, request(fmt.Sprintf("idle.%d", i)))
	}
	for i := range topics {
		sub.rec.waitFor(t, fmt.Sprintf("idle.%d", i), 1)
	}
	// Within the deadline the topics go idle; from then on, checks over ten
	// intervals read no position at all (the engine sends HMGET only to
	// read topic positions for its checks).
	if !eventually(func() bool {
		before := commandCalls(t, admin, "hmget")
		time.Sleep(10 * check)
		return commandCalls(t, admin, "hmget") == before
	}) {
		t.Fatal("checks of idle topics never stopped")
	}
	before := commandCalls(t, admin, "hmget")
	mustPublish(t, pub, request("idle.0"))
	sub.rec.waitFor(t, "idle.0", 2)
	if !eventually(func() bool { return commandCalls(t, admin, "hmget") > before }) {
		t.Fatal("a topic with traffic was not checked")
	}
	time.Sleep(10 * check) // its whole time among the recent ones, and more
	if n := commandCalls(t, admin, "hmget") - before; n >= topics {
		t.Fatalf("one topic with traffic: %d positions read, want fewer than the %d tracked", n, topics)
	}

	before = commandCalls(t, admin, "hmget")
	if err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	if !eventually(func() bool { return commandCalls(t, admin, "hmget")-before >= topics }) {
		t.Fatalf("after a reconnect: %d positions read, want every one of the %d tracked topics", commandCalls(t, admin, "hmget")-before, topics)
	}
	sub.rec.checkBreaches(t)
}

// Unsubscribing many patterns while many topics are tracked costs about
// one coverage evaluation per tracked topic in all, not one per topic and
// pattern.
func TestUnsubscribingPatternsCostsOnePassOverTopics(t *testing.T) {
	srv := redistest.Start(t)
	// No periodic check: it would sweep the states at a time of its own.
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	const patterns, topics = 300, 900
	for i := range patterns {
		mustSubscribe(t, sub, fmt.Sprintf("c%d.*", i))
	}
	for i := range topics {
		mustPublish(t, pub, request(fmt.Sprintf("c%d.t%d", i%patterns, i)))
	}
	for i := range topics {
		sub.rec.waitFor(t, fmt.Sprintf("c%d.t%d", i%patterns, i), 1)
	}
	before := redis.CoverageEvaluations(sub.Engine)
	for i := range patterns {
		if err := sub.Unsubscribe(ctxFor(t), fmt.Sprintf("c%d.*", i)); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
	}
	mustSubscribe(t, sub, "d.*") // may cover a dropped topic again: the states are swept now
	mustPublish(t, pub, request("d.x"))
	sub.rec.waitFor(t, "d.x", 1)
	if n := redis.CoverageEvaluations(sub.Engine) - before; n > 2*topics {
		t.Fatalf("unsubscribing %d patterns with %d tracked topics took %d coverage evaluations, want at most %d",
			patterns, topics, n, 2*topics)
	}
	mustPublish(t, pub, request("c0.t0"))
	mustPublish(t, pub, request("d.x"))
	sub.rec.waitFor(t, "d.x", 2)
	if got := len(sub.rec.messages("c0.t0")); got != 1 {
		t.Fatalf("c0.t0 got %d messages after its pattern went, want the 1 from before", got)
	}
}

// A topic only a pattern covers is forgotten once it had no message for
// longer than its keys live in Redis; its next message starts a new epoch,
// with nothing owed before it.
func TestIdlePatternTopicIsForgotten(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10, HistoryTTL: 300 * time.Millisecond})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "f.*")
	mustSubscribe(t, sub, "kept")
	first := mustPublish(t, pub, request("f.a"))
	mustPublish(t, pub, request("kept"))
	sub.rec.waitFor(t, "f.a", 1)
	sub.rec.waitFor(t, "kept", 1)
	if !eventually(func() bool { return redis.TrackedTopics(sub.Engine) == 1 }) {
		t.Fatalf("tracking %d topics after they went idle, want only the subscribed one", redis.TrackedTopics(sub.Engine))
	}
	next := mustPublish(t, pub, request("f.a"))
	if next.Epoch == first.Epoch {
		t.Fatalf("topic idle past HistoryTTL kept its epoch %s", next.Epoch)
	}
	got := sub.rec.waitFor(t, "f.a", 2)
	if got[1].Epoch != next.Epoch || got[1].Seq != 1 {
		t.Fatalf("after it was forgotten: epoch %s seq %d, want %s seq 1", got[1].Epoch, got[1].Seq, next.Epoch)
	}
	if gaps := sub.rec.gaps("f.a"); len(gaps) != 0 {
		t.Fatalf("gaps %v after a forgotten topic's next message", gaps)
	}
	sub.rec.checkBreaches(t)
}
