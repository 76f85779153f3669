package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// inject appends a message to a topic's history the way the publish script
// does, but without publishing it: a message pub/sub lost.
func inject(t *testing.T, srv *redistest.Server, prefix, topic string) broker.PublishRequest {
	t.Helper()
	return injectAt(t, srv.Addr(), prefix, topic)
}

// injectScript writes what the publish script writes of a message, at
// once as the script does: a check reading the topic's position between
// a new seq and its stream entry would take the message for one history
// no longer holds, and report it as a gap. KEYS: meta, hist. ARGV: the
// message's id, time and data. As the publish script does, the seq is
// written by this server (mark) and names this message (id).
var injectScript = goredis.NewScript(`
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'mark', seq, 'id', ARGV[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'i', ARGV[1], 'm', ARGV[2], 'd', ARGV[3])
return seq
`)

// injectAt is inject on the Redis at addr, which must hold topic's keys.
func injectAt(t *testing.T, addr, prefix, topic string) broker.PublishRequest {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	req := request(topic)
	keys := []string{prefix + "{" + topic + "}:meta", prefix + "{" + topic + "}:hist"}
	if err := injectScript.Run(ctxFor(t), rdb, keys, req.ID, req.Time, req.Data).Err(); err != nil {
		t.Fatalf("inject: %v", err)
	}
	return req
}

func TestGapFilledFromHistoryBeforeNextMessage(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// No periodic check: only the gap before seq 3 can bring seq 2.
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "gap")
	mustPublish(t, pub, request("gap"))
	sub.rec.waitFor(t, "gap", 1)
	lost := inject(t, srv, prefix, "gap")
	mustPublish(t, pub, request("gap"))
	got := sub.rec.waitFor(t, "gap", 3)
	wantSeqs(t, "after a gap", got, 1, 3)
	if got[1].ID != lost.ID || string(got[1].Data) != string(lost.Data) {
		t.Fatalf("seq 2 = %s %s, want the lost message %s %s", got[1].ID, got[1].Data, lost.ID, lost.Data)
	}
	sub.rec.checkBreaches(t)
}

func TestPeriodicCheckRecoversLostTail(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "tail")
	mustSubscribe(t, sub, "pt.*")
	release := holdChecks(t, sub.Engine)
	mustPublish(t, pub, request("tail"))
	mustPublish(t, pub, request("pt.x")) // makes pt.x a topic the node tracks
	sub.rec.waitFor(t, "tail", 1)
	sub.rec.waitFor(t, "pt.x", 1)
	lost := []broker.PublishRequest{inject(t, srv, prefix, "tail"), inject(t, srv, prefix, "pt.x")}
	release()
	for i, topic := range []string{"tail", "pt.x"} {
		got := sub.rec.waitFor(t, topic, 2)
		if got[len(got)-1].ID != lost[i].ID {
			t.Fatalf("%s: last message %s, want the lost %s", topic, got[len(got)-1].ID, lost[i].ID)
		}
	}
	sub.rec.checkBreaches(t)
}

func TestRedisOutageAndReturn(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "live")
	mustSubscribe(t, sub, "pat.*")
	before := mustPublish(t, pub, request("live"))
	sub.rec.waitFor(t, "live", 1)

	srv.Stop()
	ctx := ctxFor(t)
	if _, err := pub.Publish(ctx, request("live")); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish with Redis down: %v, want an error wrapping ErrUnavailable", err)
	}
	if err := pub.Ready(ctx); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Ready with Redis down: %v, want an error wrapping ErrUnavailable", err)
	}
	if _, err := pub.History(ctx, "live", 0, 0); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("History with Redis down: %v, want an error wrapping ErrUnavailable", err)
	}
	if err := sub.Subscribe(ctx, "other"); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Subscribe with Redis down: %v, want an error wrapping ErrUnavailable", err)
	}

	srv.Restart()
	if !eventually(func() bool { return pub.Ready(ctx) == nil && sub.Ready(ctx) == nil }) {
		t.Fatalf("not ready %v after Redis returned", waitTimeout)
	}
	after := mustPublish(t, pub, request("live"))
	if after.Epoch == before.Epoch || after.Seq != 1 {
		t.Fatalf("first publish after Redis lost its data: epoch %q seq %d, want a new epoch (not %q) at seq 1",
			after.Epoch, after.Seq, before.Epoch)
	}
	got := sub.rec.waitFor(t, "live", 2)
	if got[1].Epoch != after.Epoch || got[1].Seq != 1 {
		t.Fatalf("delivered after the outage: epoch %q seq %d, want %q seq 1", got[1].Epoch, got[1].Seq, after.Epoch)
	}
	// A topic the node never saw reaches it only through its restored
	// pattern subscription; publishes before the restore are lost, so
	// publish until one arrives.
	if !eventually(func() bool {
		mustPublish(t, pub, request("pat.new"))
		return len(sub.rec.messages("pat.new")) > 0
	}) {
		t.Fatal("pattern subscription not restored after Redis returned")
	}
	mustSubscribe(t, sub, "other") // subscribing works again too
	sub.rec.checkBreaches(t)
}

func TestSilentPubSubConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	pub, sub, px, rec := behindProxy(t, redis.Config{HistorySize: 10})
	mustSubscribe(t, sub, "quiet")
	mustSubscribe(t, sub, "q.*")
	mustPublish(t, pub, request("quiet"))
	rec.waitFor(t, "quiet", 1)

	px.Silence() // every open connection now swallows what Redis sends
	mustPublish(t, pub, request("quiet"))
	rec.waitFor(t, "quiet", 2) // recovered through a new connection
	if !eventually(func() bool {
		mustPublish(t, pub, request("q.new"))
		return len(rec.messages("q.new")) > 0
	}) {
		t.Fatal("no delivery through a new pub/sub connection after the old one went silent")
	}
	rec.checkBreaches(t)
}

func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	e, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), Prefix: uniquePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustSubscribe(t, e, "x")
	ctx := ctxFor(t)
	if err := e.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.Publish(ctx, request("x")); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
}

func TestPublishedWhileThePubSubConnectionWasDownIsRecovered(t *testing.T) {
	// No probes, no periodic check, no later publish, and a probe still
	// on its way when the connection breaks would time out only after the
	// test's wait: only noticing that the connection broke can bring back
	// in time what was published meanwhile.
	pub, sub, px, rec := behindProxy(t, redis.Config{
		HistorySize: 10, ProbeInterval: time.Hour, CheckInterval: time.Hour, Timeout: 2 * waitTimeout,
	})
	mustSubscribe(t, sub, "drop")
	mustPublish(t, pub, request("drop"))
	rec.waitFor(t, "drop", 1)

	px.Cut()
	lost := mustPublish(t, pub, request("drop"))
	px.Restore()
	got := rec.waitFor(t, "drop", 2)
	if got[1].Seq != lost.Seq {
		t.Fatalf("after the drop: got seq %d, want the lost %d", got[1].Seq, lost.Seq)
	}
	if st := sub.Stats(); st.Reconnects == 0 {
		t.Fatalf("dropped connection recovered without being replaced: %+v", st)
	}
	rec.checkBreaches(t)
}

func TestRefusedSubscribeKeepsTheConnection(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	// A user that may use every key but only the channels of topic "ok",
	// its probes and controls: subscribing any other topic is refused by
	// Redis.
	err := admin.Do(ctxFor(t), "ACL", "SETUSER", "herald", "on", ">pw", "~*", "+@all", "resetchannels",
		"&"+prefix+"m.ok", "&"+prefix+"probe.*", "&"+prefix+"control").Err()
	if err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	n := newEngine(t, "redis://herald:pw@"+srv.Addr()+"/0", redis.Config{Prefix: prefix, Timeout: 300 * time.Millisecond})
	rec := newRecorder()
	n.Attach(rec)
	mustSubscribe(t, n, "ok")
	if err := n.Subscribe(ctxFor(t), "forbidden"); err == nil {
		t.Fatal("Subscribe to a channel Redis refuses succeeded")
	}
	mustPublish(t, n, request("ok"))
	rec.waitFor(t, "ok", 1)
	if st := n.Stats(); st.Reconnects != 0 {
		t.Fatalf("a refused command replaced the connection: %+v", st)
	}
}

// behindProxy runs a Redis, a publishing engine on it, and a subscribing
// engine ("sub", cfg plus a fresh prefix both share) that reaches Redis
// through a proxy the test can cut or silence, recorded by rec.
func behindProxy(t *testing.T, cfg redis.Config) (pub, sub *redis.Engine, px *redistest.Proxy, rec *recorder) {
	t.Helper()
	srv := redistest.Start(t)
	px = redistest.StartProxy(t, srv.Addr())
	cfg.Prefix = uniquePrefix(t)
	pub = cluster(t, srv, 1, redis.Config{Prefix: cfg.Prefix, HistorySize: cfg.HistorySize})[0].Engine
	cfg.NodeID = "sub"
	sub = newEngine(t, "redis://"+px.Addr()+"/0", cfg)
	rec = newRecorder()
	sub.Attach(rec)
	return pub, sub, px, rec
}
