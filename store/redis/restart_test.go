package redis_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis killed and started again from an RDB snapshot older than its
// last publishes holds each topic as the snapshot had it, mark and all:
// nothing in the topic's meta tells it from the server that wrote it. The
// topic's next publish must not give again a seq of the epoch that a
// publisher was acknowledged for, and a resume from that epoch is told it
// did not recover everything, before that publish and after it. The topic
// has no subscriber, so no node's delivery could notice the loss either.
func TestRestartFromOlderSnapshotStartsNewEpoch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100})
	const topic = "snapshot"
	for range 3 {
		mustPublish(t, e, request(topic))
	}
	do(t, a, "SAVE")
	var last broker.PublishResult
	for range 2 { // acknowledged, and not in the snapshot
		last = mustPublish(t, e, request(topic))
	}
	srv.Restart() // SIGKILL, then back from the snapshot: seq 3
	checkBackFromSnapshot(t, e, topic, last)
}

// checkBackFromSnapshot checks topic after its server came back from a
// snapshot taken at seq 3, two publishes before last: the epoch goes on
// nowhere, and no resume from it is told it recovered everything.
func checkBackFromSnapshot(t *testing.T, e *redis.Engine, topic string, last broker.PublishResult) {
	t.Helper()
	saved := broker.Position{Epoch: last.Epoch, Seq: 3}
	h := resumeOnceBack(t, e, topic, saved)
	if h.Epoch != last.Epoch || h.Seq != 3 {
		t.Fatalf("after the restart the topic is at %+v, want seq 3 of %s (the snapshot)", h.Position, last.Epoch)
	}
	if wouldRecover(h, saved) {
		t.Fatalf("a resume from %+v after the restart would be told it recovered everything: seqs 4 and 5 were acknowledged and lost", saved)
	}

	next := publishOnceBack(t, e, topic)
	if next.Epoch == last.Epoch {
		t.Fatalf("the first publish after the restart got seq %d of epoch %s, which was acknowledged for another message",
			next.Seq, next.Epoch)
	}
	if next.Seq != 1 {
		t.Errorf("the first publish of the new epoch got seq %d, want 1", next.Seq)
	}
	for _, seq := range []uint64{3, 4, 5} {
		since := broker.Position{Epoch: last.Epoch, Seq: seq}
		h, err := e.ResumeHistory(ctxFor(t), topic, since, 1<<20)
		if err != nil {
			t.Fatalf("resume from %+v: %v", since, err)
		}
		if wouldRecover(h, since) {
			t.Errorf("a resume from %+v after the next publish (%+v) would be told it recovered everything", since, h.Position)
		}
	}
}

// A restart that lost nothing (a snapshot taken just before the kill)
// still starts each topic a new epoch at its next publish, as no one can
// tell it lost nothing; from there publishing and delivery go on, every
// node publishing in that one epoch, and a resume in it recovers.
func TestRestartThatLostNothingGoesOn(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 100})
	const topic = "restart"
	mustSubscribe(t, nodes[1], topic)
	before := mustPublish(t, nodes[0], request(topic))
	nodes[1].rec.waitFor(t, topic, 1)
	do(t, a, "SAVE")
	srv.Restart()

	first := publishOnceBack(t, nodes[0], topic)
	if first.Epoch == before.Epoch || first.Seq != 1 {
		t.Fatalf("first publish after the restart = %+v, want seq 1 of a new epoch", first)
	}
	second := publishOnceBack(t, nodes[1], topic)
	third := mustPublish(t, nodes[0], request(topic))
	if second.Epoch != first.Epoch || second.Seq != 2 || third.Epoch != first.Epoch || third.Seq != 3 {
		t.Fatalf("publishes after the first one = %+v, %+v; want seqs 2 and 3 of %s", second, third, first.Epoch)
	}
	if !eventually(func() bool {
		got := nodes[1].rec.messages(topic)
		return got[len(got)-1].ID == third.ID
	}) {
		t.Fatal("the subscriber's node never got the publishes after the restart")
	}
	since := broker.Position{Epoch: first.Epoch, Seq: 1}
	h, err := nodes[1].ResumeHistory(ctxFor(t), topic, since, 1<<20)
	if err != nil || h.Unsure || h.Epoch != first.Epoch || h.Seq != 3 || len(h.Messages) != 2 {
		t.Fatalf("resume from %+v = %+v, %d messages, unsure %v, %v; want seq 3, 2 messages, sure",
			since, h.Position, len(h.Messages), h.Unsure, err)
	}
}

// wouldRecover reports whether the broker would answer a resume from
// since, for which the engine read h, with recovered:true and nothing to
// send (see the broker's resumeFrom).
func wouldRecover(h broker.HistoryResult, since broker.Position) bool {
	return h.Epoch == since.Epoch && !h.Unsure && h.Seq == since.Seq
}

// resumeOnceBack reads a resume from since, trying again while the
// engine finds Redis unavailable (its connections broke with the
// restart).
func resumeOnceBack(t *testing.T, e broker.Engine, topic string, since broker.Position) broker.HistoryResult {
	t.Helper()
	var h broker.HistoryResult
	var err error
	if !eventually(func() bool {
		h, err = e.(broker.ResumeReader).ResumeHistory(ctxFor(t), topic, since, 1<<20)
		return !errors.Is(err, broker.ErrUnavailable)
	}) || err != nil {
		t.Fatalf("resume from %+v after the restart: %v", since, err)
	}
	return h
}

// publishOnceBack publishes one message to topic, trying again while the
// engine finds Redis unavailable; the idempotency key keeps a try whose
// outcome was unknown from publishing it twice.
func publishOnceBack(t *testing.T, e broker.Engine, topic string) broker.PublishResult {
	t.Helper()
	req := request(topic)
	req.IdempotencyKey = req.ID
	var res broker.PublishResult
	var err error
	if !eventually(func() bool {
		res, err = e.Publish(ctxFor(t), req)
		return err == nil
	}) {
		t.Fatalf("publish after the restart: %v", err)
	}
	return res
}

// A Redis user that may not run INFO (a managed Redis may keep it from
// its users) costs the engine the restart check, said once in its log,
// and nothing else: it publishes, resumes and leaves the run key alone.
func TestUserWithoutInfoStillPublishes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	do(t, a, "ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-info")
	core, logs := observer.New(zap.WarnLevel)
	prefix := uniquePrefix(t)
	e := newEngine(t, "redis://noinfo:pw@"+srv.Addr()+"/0", redis.Config{HistorySize: 100, Prefix: prefix, Logger: zap.New(core)})
	mustSubscribe(t, e, "noinfo")
	first := mustPublish(t, e, request("noinfo"))
	second := mustPublish(t, e, request("noinfo"))
	if second.Epoch != first.Epoch || second.Seq != first.Seq+1 {
		t.Fatalf("publishes = %+v, %+v; want two seqs of one epoch", first, second)
	}
	since := broker.Position{Epoch: first.Epoch, Seq: first.Seq}
	h, err := e.ResumeHistory(ctxFor(t), "noinfo", since, 1<<20)
	if err != nil || h.Unsure || h.Seq != second.Seq || len(h.Messages) != 1 {
		t.Fatalf("resume from %+v = %+v, %d messages, unsure %v, %v; want seq %d, 1 message, sure",
			since, h.Position, len(h.Messages), h.Unsure, err, second.Seq)
	}
	if n := do(t, a, "EXISTS", prefix+"run"); n != int64(0) {
		t.Errorf("the run key exists (%v) though the engine's user may not read INFO", n)
	}
	if n := logs.FilterMessageSnippet("cannot note which Redis process").Len(); n != 1 {
		t.Errorf("logged %d times that the run cannot be noted, want once: %v", n, logs.All())
	}
}

// A connection opened to a replica cannot note its run there (the replica
// refuses writes) and is closed before it serves anything. Kept, it would
// publish once the replica is promoted under the run key the master left
// there, beside the master's mark and run that each topic's copy came
// with in the full resync, and go on in the master's epoch from a seq the
// master may have acknowledged past.
func TestConnectionToReplicaNeverServesItsPromotion(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	cfg := redis.Config{HistorySize: 100, Prefix: uniquePrefix(t)}
	onMaster := newEngine(t, master.URL(), cfg)
	var last broker.PublishResult
	for range 3 {
		last = mustPublish(t, onMaster, request("promoted"))
	}
	do(t, admin(t, master.Addr()), "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	a := admin(t, replica.Addr())
	host, port, _ := strings.Cut(master.Addr(), ":")
	do(t, a, "REPLICAOF", host, port)
	if !eventually(func() bool {
		return strings.Contains(a.Info(ctxFor(t), "replication").Val(), "master_link_status:up")
	}) {
		t.Fatal("the replica never synced")
	}
	onReplica := newEngine(t, replica.URL(), cfg)
	if _, err := onReplica.Publish(ctxFor(t), request("promoted")); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("publish to a replica: %v, want unavailable", err)
	}
	do(t, a, "REPLICAOF", "NO", "ONE")
	next := publishOnceBack(t, onReplica, "promoted")
	if next.Epoch == last.Epoch {
		t.Fatalf("the first publish on the promoted replica got seq %d of the master's epoch %s", next.Seq, next.Epoch)
	}
}
