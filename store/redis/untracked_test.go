package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// docs/protocol.md sections 2 and 3: a 200 reaches every subscriber still
// connected, or it is told of a gap. A topic a pattern covers that the
// node never delivered, published to while the node's pub/sub connection
// was down, reaches the node once the connection is back: the messages
// published meanwhile too, whether or not more come after, and whether or
// not a client of the node subscribes to it exactly before the next. A
// message accepted long before is not owed.
func TestPatternGetsWhatABreakLostOfTopicsNewToTheNode(t *testing.T) {
	t.Parallel()
	pub, sub, px, rec := behindProxy(t, redis.Config{HistorySize: 100})
	old := request("nt.old")
	old.Time = time.Now().Add(-time.Hour).UnixMilli()
	mustPublish(t, pub, old)
	mustSubscribe(t, sub, "nt.*")

	px.Cut()
	quiet := publishN(t, pub, "nt.quiet", 3) // published to only while the node is away
	publishN(t, pub, "nt.busy", 3)           // and again after
	publishN(t, pub, "nt.exact", 2)          // and subscribed exactly, by a client of the node, before the next
	px.Restore()
	mustSubscribe(t, sub, "nt.exact")
	exact := mustPublish(t, pub, request("nt.exact"))
	busy := mustPublish(t, pub, request("nt.busy"))
	again := mustPublish(t, pub, request("nt.old"))

	for _, w := range []struct {
		topic, epoch, want string
		upto               uint64
	}{
		{"nt.quiet", quiet.Epoch, "m1-3", 3},
		{"nt.busy", busy.Epoch, "m1-4", 4},
		{"nt.exact", exact.Epoch, "m1-3", 3},
		{"nt.old", again.Epoch, "m2-2", 2},
	} {
		if got := summary(rec.waitCovered(t, w.topic, w.epoch, w.upto)); got != w.want {
			t.Errorf("%s after the break: %s, want %s", w.topic, got, w.want)
		}
	}
	rec.checkBreaches(t)
}

// On Cluster the search for such topics goes through every master: the
// classic connection's master stops answering, so the connection is
// replaced on another, and a topic of another master's slot published to
// meanwhile reaches the node, as does one a client subscribes to exactly
// before the node knows of the break.
func testPatternAfterClassicBreak(t *testing.T, c *redistest.Cluster) {
	cfg := redis.Config{Prefix: uniquePrefix(t), HistorySize: 100}
	cfg.NodeID = "pub"
	pub := newEngine(t, c.URL(), cfg)
	cfg.NodeID = "sub"
	sub := newEngine(t, c.URL(), cfg)
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, "cb.*")
	if !eventually(func() bool { return redis.ClassicPublishing(pub) }) {
		t.Fatal("the publisher never publishes on classic channels")
	}
	var classic *redistest.Node
	for _, n := range c.Nodes() {
		if n.Addr() == redis.ClassicMaster(sub) {
			classic = n
		}
	}
	if classic == nil {
		t.Fatalf("the classic connection's master %q is not one of the cluster's", redis.ClassicMaster(sub))
	}
	var topics []string
	for i := 0; len(topics) < 2; i++ {
		if t := fmt.Sprintf("cb.%d", i); c.MasterOfKey(t) != classic {
			topics = append(topics, t)
		}
	}
	topic, exact := topics[0], topics[1]
	// The publisher's client reads its slot map at its first publish, from
	// any node: not from the one about to be stopped.
	mustPublish(t, pub, request("warm"))
	reconnects := sub.Stats().Reconnects
	classic.Pause()
	paused := true
	defer func() {
		if paused {
			classic.Resume()
		}
	}()
	res := publishN(t, pub, topic, 3)
	// Subscribed exactly while the break is not known yet: its shard
	// connection is on another master than the classic one.
	publishN(t, pub, exact, 2)
	mustSubscribe(t, sub, exact)
	if !eventually(func() bool { return sub.Stats().Reconnects > reconnects }) {
		t.Fatal("the classic connection was never replaced")
	}
	classic.Resume()
	paused = false
	c.WaitOK() // a slow machine may have had the stopped master failed over
	var last broker.PublishResult
	if !eventually(func() bool {
		var err error
		last, err = pub.Publish(ctxFor(t), request(exact))
		return err == nil
	}) {
		t.Fatalf("no publish to %s after the break", exact)
	}
	if got := summary(rec.waitCovered(t, topic, res.Epoch, 3)); got != "m1-3" {
		t.Errorf("%s after the break: %s, want m1-3", topic, got)
	}
	if got := summary(rec.waitCovered(t, exact, last.Epoch, 3)); got != "m1-3" {
		t.Errorf("%s subscribed exactly during the break: %s, want m1-3", exact, got)
	}
	rec.checkBreaches(t)
}

// A message published just before a pattern was subscribed is not the
// pattern's, though an exact subscribe of its topic on the same node
// starts its delivery with a catch-up from the pattern's subscribe.
func TestExactSubscribeBringsNoMessageFromBeforeThePattern(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 100})
	pub, sub := nodes[0], nodes[1]
	mustPublish(t, pub, request("xs.t"))
	mustSubscribe(t, sub, "xs.*")
	mustSubscribe(t, sub, "xs.t")
	next := mustPublish(t, pub, request("xs.t"))
	if got := summary(sub.rec.waitCovered(t, "xs.t", next.Epoch, 2)); got != "m2-2" {
		t.Errorf("xs.t: %s, want m2-2: seq 1 was published before either subscribe", got)
	}
	sub.rec.checkBreaches(t)
}

// A search for such topics that Redis refuses a read of (here an ACL; on
// Cluster, CLUSTERDOWN while a failed master's replica takes over) is
// tried again, the break still owed, and its topics come once it goes
// through. Only a key of another type is passed over.
func TestRefusedSearchForNewTopicsIsTriedAgain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	a := admin(t, srv.Addr())
	// The last entry of a topic's history is the one read the ACL refuses.
	do(t, a, "ACL", "SETUSER", "searcher", "on", ">pw", "~*", "&*", "+@all", "-xrevrange",
		"(~*:changes ~*controls +xrevrange)")
	pub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	sub := newEngine(t, "redis://searcher:pw@"+px.Addr()+"/0", redis.Config{Prefix: prefix, HistorySize: 100, NodeID: "sub"})
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, "rs.*")

	reconnects := sub.Stats().Reconnects
	px.Cut()
	res := publishN(t, pub, "rs.x", 2)
	px.Restore()
	if !eventually(func() bool { return sub.Stats().Reconnects > reconnects }) {
		t.Fatal("the connection was never replaced")
	}
	probes := redis.Probes(sub)
	if !eventually(func() bool { return redis.Probes(sub) > probes+10 }) { // checks ran meanwhile
		t.Fatal("no probes after the reconnect")
	}
	do(t, a, "ACL", "SETUSER", "searcher", "+xrevrange")
	if got := summary(rec.waitCovered(t, "rs.x", res.Epoch, 2)); got != "m1-2" {
		t.Errorf("rs.x after the break: %s, want m1-2", got)
	}
	rec.checkBreaches(t)
}

// An exact subscribe that starts its topic with a pattern's catch-up
// still gets every message after its position, though one was accepted
// before the pattern was subscribed: a publish runs in Redis up to the
// timeout after it was accepted, and a publishing node's clock may be
// behind. Here the message after the position comes from history, as
// after a break of pub/sub.
func TestExactSubscribeGetsWhatFollowsItsStartWhateverItsTime(t *testing.T) {
	t.Parallel()
	// No periodic check: the one after the break is the first to read
	// the topic's history.
	pub, sub, px, rec := behindProxy(t, redis.Config{HistorySize: 100, CheckInterval: time.Hour})
	old := request("el.t")
	old.Time = time.Now().Add(-time.Hour).UnixMilli()
	mustPublish(t, pub, old)
	before := time.Now()
	mustSubscribe(t, sub, "el.*")
	mustSubscribe(t, sub, "el.t") // at seq 1

	px.Cut()
	late := request("el.t") // accepted just before the pattern was subscribed, run after the exact subscribe
	late.Time = before.UnixMilli() - 1
	mustPublish(t, pub, late)
	px.Restore()
	next := mustPublish(t, pub, request("el.t"))
	if got := summary(rec.waitCovered(t, "el.t", next.Epoch, 3)); got != "m2-3" {
		t.Errorf("el.t: %s, want m2-3: the exact subscription started at seq 1", got)
	}
	rec.checkBreaches(t)
}
