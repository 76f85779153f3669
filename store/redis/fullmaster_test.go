package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// fullRedis is a Redis, or a Cluster, that a test makes full after a
// restart: the engine's next connection to the master holding a key
// must note its run, a write every write-refusing master refuses, and no
// connection the engine opened before is left (see runstamp.go).
type fullRedis struct {
	adminOf  func(key string) *goredis.Client // a client of the master of key
	needsRun func(a *goredis.Client)          // leaves a's run key(s) naming another process
	pubsubOf func() []*goredis.Client         // clients of every server a pub/sub connection may be on
}

// makeFull leaves a's server as a restart leaves one whose data fills its
// maxmemory under noeviction: every write refused, the run unnoted, and
// no connection the engine opened before left. The memory is given back
// at the test's end, for the tests after it.
func (f fullRedis) makeFull(t *testing.T, a *goredis.Client) {
	t.Helper()
	f.needsRun(a)
	do(t, a, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	do(t, a, "CONFIG", "SET", "maxmemory", "1")
	t.Cleanup(func() { a.ConfigSet(context.Background(), "maxmemory", "0") })
	do(t, a, "CLIENT", "KILL", "TYPE", "normal")
}

// breakPubSub kills every pub/sub connection, wherever it is.
func (f fullRedis) breakPubSub(t *testing.T) {
	t.Helper()
	for _, a := range f.pubsubOf() {
		do(t, a, "CLIENT", "KILL", "TYPE", "pubsub")
	}
}

// runBefore names, in the run key and in meta, the process a restart
// replaced (see standaloneFull).
const runBefore = "0000000000000000"

// standaloneFull is fullRedis for one Redis: its run key is set to
// another process's, runBefore, as a restart leaves it.
func standaloneFull(t *testing.T, srv *redistest.Server, prefix string) fullRedis {
	a := admin(t, srv.Addr())
	return fullRedis{
		adminOf:  func(string) *goredis.Client { return a },
		needsRun: func(a *goredis.Client) { do(t, a, "SET", prefix+"run", runBefore) },
		pubsubOf: func() []*goredis.Client { return []*goredis.Client{a} },
	}
}

// clusterFull is fullRedis for a Cluster: a master's script cache is
// flushed, so that the engine's next connection stamps every slot, as
// after a restart.
func clusterFull(t *testing.T, c *redistest.Cluster) fullRedis {
	return fullRedis{
		adminOf:  func(key string) *goredis.Client { return admin(t, c.MasterOfKey(key).Addr()) },
		needsRun: func(a *goredis.Client) { do(t, a, "SCRIPT", "FLUSH") },
		pubsubOf: func() []*goredis.Client {
			var out []*goredis.Client
			for _, m := range masters(c) {
				out = append(out, admin(t, m.Addr()))
			}
			return out
		},
	}
}

// checkWithoutStampWhileFull has the subscriber's connection miss a
// message that reached the topic's history (written here as the publish
// script writes it, with no SPUBLISH or PUBLISH), then the topic's
// master full after a restart: the check that follows the reconnect
// reads the topic's position and history on connections that need no
// stamp, and delivers the message, where on stamping connections both
// reads failed for as long as the master was full.
func checkWithoutStampWhileFull(t *testing.T, f fullRedis, pub, sub node, prefix string) {
	const topic = "fullcheck"
	mustSubscribe(t, sub, topic)
	first := mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)

	a := f.adminOf(topic)
	missed := request(topic)
	seq := first.Seq + 1
	do(t, a, "XADD", prefix+"{"+topic+"}:hist", fmt.Sprintf("%d-0", seq), "i", missed.ID, "m", missed.Time, "d", missed.Data)
	do(t, a, "HSET", prefix+"{"+topic+"}:meta", "seq", seq, "id", missed.ID)
	f.makeFull(t, a)
	f.breakPubSub(t) // the topic is checked once its connection is back
	if got := sub.rec.waitFor(t, topic, 2); got[1].ID != missed.ID || got[1].Seq != seq {
		t.Fatalf("delivered %s (seq %d) after the reconnect, want %s (seq %d)", got[1].ID, got[1].Seq, missed.ID, seq)
	}
}

// controlCatchUpWithoutStampWhileFull has a node's classic connection
// miss a control that reached the control stream (written here as the
// control script writes it, with no PUBLISH), then the stream's master
// full after a restart: the catch-up that follows the reconnect reads
// the stream on a connection that needs no stamp, and hands the control
// over, where on a stamping connection the read failed until the
// catch-up gave up (controlCatchUp), and the control was lost.
func controlCatchUpWithoutStampWhileFull(t *testing.T, f fullRedis, sender, e node, prefix string) {
	mustSubscribe(t, e, "any") // the control channel with it
	first := broker.Control{Kind: broker.ControlDisconnect, User: "first"}
	if err := sender.Control(ctxFor(t), first); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return len(e.rec.controls()) == 1 }) {
		t.Fatalf("controls %+v, want the first", e.rec.controls())
	}

	missed := broker.Control{Kind: broker.ControlUnsubscribe, User: "missed", Topic: "room.1"}
	body, err := json.Marshal(struct {
		Kind  broker.ControlKind `json:"k"`
		User  string             `json:"u"`
		Topic string             `json:"t"`
	}{missed.Kind, missed.User, missed.Topic})
	if err != nil {
		t.Fatal(err)
	}
	a := f.adminOf(prefix + "controls")
	do(t, a, "XADD", prefix+"controls", "*", "c", body)
	f.makeFull(t, a)
	f.breakPubSub(t)
	want := []broker.Control{first, missed}
	if !eventually(func() bool { return len(e.rec.controls()) >= 2 }) || !slices.Equal(e.rec.controls(), want) {
		t.Fatalf("controls %+v, want %+v", e.rec.controls(), want)
	}
}

func testCheckWithoutStampWhileFull(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	checkWithoutStampWhileFull(t, clusterFull(t, c), nodes[0], nodes[1], prefix)
}

func testControlCatchUpWithoutStampWhileFull(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix})
	controlCatchUpWithoutStampWhileFull(t, clusterFull(t, c), nodes[0], nodes[1], prefix)
}

func TestCheckWithoutStampWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	checkWithoutStampWhileFull(t, standaloneFull(t, srv, prefix), nodes[0], nodes[1], prefix)
}

func TestControlCatchUpWithoutStampWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix})
	controlCatchUpWithoutStampWhileFull(t, standaloneFull(t, srv, prefix), nodes[0], nodes[1], prefix)
}

// The reads of a check need no stamp, and serve a copy older than what
// was handed over just as they would once it is stamped: here a Redis
// full after a restart from a snapshot taken at a topic's third publish,
// its run not noted yet (meta and history are set back as the snapshot
// holds them). The node's check finds the topic behind what its
// subscriber got, and the rebase it begins waits, as a script, for the
// stamp; a resume waits too, rather than be told it recovered what the
// snapshot lost. Once Redis takes writes again, the next publish starts
// a new epoch: no seq the subscriber had names a second message.
func TestOlderCopyReadWhileFullGivesNoSeqTwice(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	pub, sub, rec, logs, prefix := observedPair(t, srv, zap.WarnLevel)
	const topic = "older"
	mustSubscribe(t, sub, topic)
	var third, last broker.PublishResult
	for i := range 5 {
		last = mustPublish(t, pub, request(topic))
		if i == 2 {
			third = last
		}
	}
	rec.waitFor(t, topic, 5)

	setBackToSnapshot(t, a, prefix, topic, third)
	f := standaloneFull(t, srv, prefix)
	f.makeFull(t, a)
	f.breakPubSub(t) // the topic is checked once the connection is back
	if !eventually(func() bool { return logs.FilterMessageSnippet("cannot start a new epoch now").Len() > 0 }) {
		t.Fatalf("the node never tried to start the topic a new epoch: %v", logs.All())
	}
	since := broker.Position{Epoch: last.Epoch, Seq: last.Seq}
	if h, err := sub.ResumeHistory(ctxFor(t), topic, since, 1<<20); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("a resume from %+v while Redis was full answered %+v, %v; want unavailable", since, h, err)
	}

	do(t, a, "CONFIG", "SET", "maxmemory", "0")
	next := publishOnceBack(t, pub, topic)
	if next.Epoch == last.Epoch {
		t.Fatalf("the first publish Redis took again got seq %d of epoch %s, given before", next.Seq, next.Epoch)
	}
	if got := rec.waitFor(t, topic, 6); got[5].ID != next.ID {
		t.Fatalf("delivered %s (%s/%d) after Redis took writes again, want %s", got[5].ID, got[5].Epoch, got[5].Seq, next.ID)
	}
	rec.checkBreaches(t)
}

// replayWithoutStampWhileFull has a node miss a join that reached the
// topic's change log (written here as the add script logs it, with no
// publish), then the topic's master full after a restart: the replay of
// the change logs that follows the reconnect reads them on connections
// that need no stamp, and hands the join over, where on stamping
// connections the read failed for as long as the master was full.
func replayWithoutStampWhileFull(t *testing.T, f fullRedis, e node, prefix string) {
	const topic = "room.full"
	mustSubscribe(t, e, topic)
	mustAdd(t, e.Engine, broker.PresenceEntry{Topic: topic, Session: "e1", User: "watcher"})
	waitChanges(t, e.rec, topic, "+watcher")

	a := f.adminOf(topic)
	logKey := prefix + "{" + topic + "}:changes"
	last, err := a.XRevRangeN(ctxFor(t), logKey, "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("the change log's last entry: %v, %v", last, err)
	}
	change := "\nj9:" + topic + "5:ghost2:sx0:"
	do(t, a, "XADD", logKey, "*", "p", last[0].ID, "c", change)
	f.makeFull(t, a)
	f.breakPubSub(t)
	waitChanges(t, e.rec, topic, "+watcher", "+ghost")
}

func testReplayWithoutStampWhileFull(t *testing.T, c *redistest.Cluster) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 1, redis.Config{Prefix: prefix, PresenceLapse: time.Hour})
	replayWithoutStampWhileFull(t, clusterFull(t, c), nodes[0], prefix)
}

func TestReplayWithoutStampWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 1, redis.Config{Prefix: prefix, PresenceLapse: time.Hour})
	replayWithoutStampWhileFull(t, standaloneFull(t, srv, prefix), nodes[0], prefix)
}

// testSubscribeBesideFullControlsMaster starts a node while the master
// of the control stream is full after a restart: its first subscribe,
// of a topic on another master, notes where the control stream ends on
// a connection that needs no stamp, and goes through, where on a
// stamping connection it failed as unavailable, as every subscribe of
// the node did for as long as that master stayed full.
//
// The prefix is chosen so that the stream's master is not the one of
// the node's classic connection (the master of its probe channel's slot,
// which no prefix changes): that connection notes the process (see
// newClients), so on the full master it is refused, and the subscribe
// waits for it to move to another master (docs/protocol.md section 12),
// a reconnect that a busy machine can put off past the subscribe's
// timeout. One prefix in three put the two on one master, and the
// subscribe failed so once ("subscribe: ... EVAL: OOM").
func testSubscribeBesideFullControlsMaster(t *testing.T, c *redistest.Cluster) {
	var prefix string
	var controls *redistest.Node
	for controls == nil || controls == c.MasterOfKey(prefix+"probe.node1.{classic.0}") {
		prefix = uniquePrefix(t)
		controls = c.MasterOfKey(prefix + "controls")
	}
	topic := topicOn(t, c, otherMaster(c, controls), "elsewhere")
	clusterFull(t, c).makeFull(t, admin(t, controls.Addr()))
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, topic)
	res := mustPublish(t, pub, request(topic))
	if got := sub.rec.waitFor(t, topic, 1); got[0].ID != res.ID {
		t.Fatalf("delivered %s, want %s", got[0].ID, res.ID)
	}
}

// setBackToSnapshot sets topic back, of its five messages, as a snapshot
// taken at the third, at, holds it: its meta names the process that wrote
// it, as its run key does, and its stream ends at that entry.
func setBackToSnapshot(t *testing.T, a *goredis.Client, prefix, topic string, at broker.PublishResult) {
	t.Helper()
	do(t, a, "HSET", prefix+"{"+topic+"}:meta", "seq", at.Seq, "id", at.ID, "mark", at.Seq, "run", runBefore)
	do(t, a, "XDEL", prefix+"{"+topic+"}:hist", "4-0", "5-0")
	do(t, a, "XSETID", prefix+"{"+topic+"}:hist", fmt.Sprintf("%d-0", at.Seq))
}
