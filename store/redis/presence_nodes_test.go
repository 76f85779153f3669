package redis_test

import (
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node that dies without removing its entries: another node removes
// them once its heartbeat lapsed, sends the leaves of the users it alone
// had, keeps the users it shared, and leaves nothing of it in Redis.
func TestDeadNodesPresenceIsRemovedByAnother(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	testDeadNode(t, srv.URL(), admin)
}

// testDeadNode is TestDeadNodesPresenceIsRemovedByAnother on the Redis at
// url, which admin reaches (on Cluster, any node of it).
func testDeadNode(t *testing.T, url string, admin goredis.UniversalClient) {
	es, rs := presenceCluster(t, url, 2, testLapse)
	dying, survivor := es[0], es[1]
	const topic = "room.dead"
	mustSubscribe(t, survivor, topic)
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s1", User: "shared"})
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s2", User: "alone"})
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s3", User: "alone"})
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s4"})
	mustAdd(t, survivor, broker.PresenceEntry{Topic: topic, Session: "s5", User: "shared"})
	waitChanges(t, rs[1], topic, "+shared", "+alone")
	life := redis.PresenceLife(dying)

	redis.Die(dying)
	waitChanges(t, rs[1], topic, "+shared", "+alone", "-alone")
	if c := rs[1].presenceChanges(topic)[2]; c.Session != "s2" && c.Session != "s3" {
		t.Errorf("the leave names session %q, not one of the dead node's", c.Session)
	}
	st := mustPresence(t, survivor, topic)
	if st.Sessions != 1 || len(st.Members) != 1 || st.Members[0].User != "shared" || st.Members[0].Sessions != 1 {
		t.Errorf("presence after the death: %+v, want the survivor's session alone", st)
	}
	topicKeys, lifeKeys := redis.PresenceKeys(dying, topic, life)
	if !eventually(func() bool { // the reaper deletes its lock last
		// topicKeys[2] is the life's sessions; the topic's seq (topicKeys[3])
		// outlives them by a minute. One key a call: they live in different slots.
		for _, k := range append(topicKeys[2:3], lifeKeys...) {
			if n, err := admin.Exists(ctxFor(t), k).Result(); err != nil || n != 0 {
				return false
			}
		}
		return true
	}) {
		t.Errorf("keys of the dead life are left in Redis")
	}
	if _, err := admin.ZScore(ctxFor(t), redis.PresenceNodes(dying), life).Result(); err != goredis.Nil {
		t.Errorf("the dead life is still registered: %v", err)
	}
}

// A node beats once as it starts, with no presence of its own: the wait
// of its cleanup of dead nodes (a third of the lapse) is counted from then.
func TestNodeBeatsAtStart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	e := newEngine(t, srv.URL(), redis.Config{PresenceLapse: time.Hour}) // its next beat is 20 min away
	if !eventually(func() bool {
		_, err := admin.ZScore(ctxFor(t), redis.PresenceNodes(e), redis.PresenceLife(e)).Result()
		return err == nil
	}) {
		t.Fatal("the node's life is not registered after its start")
	}
}

// A clean Close removes the node's entries at once, with their leaves,
// long before its heartbeat would lapse.
func TestCloseRemovesTheNodesPresence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	es, rs := presenceCluster(t, srv.URL(), 2, time.Hour)
	const topic = "room.close"
	mustSubscribe(t, es[1], topic)
	mustAdd(t, es[0], broker.PresenceEntry{Topic: topic, Session: "s1", User: "u"})
	mustAdd(t, es[0], broker.PresenceEntry{Topic: topic, Session: "s2"})
	waitChanges(t, rs[1], topic, "+u")
	if err := es[0].Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	waitChanges(t, rs[1], topic, "+u", "-u")
	if st := mustPresence(t, es[1], topic); st.Sessions != 0 || len(st.Members) != 0 {
		t.Errorf("presence after Close: %+v, want none", st)
	}
	if err := es[0].AddPresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s3"}); broker.CodeOf(err) != broker.CodeUnavailable {
		t.Errorf("AddPresence after Close: %v, want unavailable", err)
	}
}

// A node whose heartbeat lapsed while it lived (a long pause) had its
// entries removed by the others; when it beats again it adds them back,
// with joins, under a new life that the cleanup of the old one spares.
func TestLapsedNodeAddsItsPresenceBack(t *testing.T) {
	t.Parallel()
	testLapsedNode(t, redistest.Start(t).URL())
}

// testLapsedNode is TestLapsedNodeAddsItsPresenceBack on the Redis at url.
func testLapsedNode(t *testing.T, url string) {
	es, rs := presenceCluster(t, url, 2, testLapse)
	const topic = "room.lapse"
	mustSubscribe(t, es[1], topic)
	mustAdd(t, es[0], broker.PresenceEntry{Topic: topic, Session: "s1", User: "u", Info: []byte(`{"n":1}`)})
	waitChanges(t, rs[1], topic, "+u")
	old := redis.PresenceLife(es[0])

	redis.Die(es[0])
	waitChanges(t, rs[1], topic, "+u", "-u")
	redis.Revive(es[0])
	waitChanges(t, rs[1], topic, "+u", "-u", "+u")
	if redis.PresenceLife(es[0]) == old {
		t.Error("the node added its entries back under the life that lapsed")
	}
	st := mustPresence(t, es[1], topic)
	if st.Sessions != 1 || len(st.Members) != 1 || string(st.Members[0].Info) != `{"n":1}` {
		t.Errorf("presence after the node came back: %+v", st)
	}
	// Removing goes on as usual under the new life.
	if err := es[0].RemovePresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	waitChanges(t, rs[1], topic, "+u", "-u", "+u", "-u")
}

// After its connection to Redis is replaced (as a failover does), a node
// makes Redis hold exactly its entries again: one Redis lost is added
// back with its join, one Redis kept after its removal goes with its
// leave.
func TestReconnectedNodeResyncsItsPresence(t *testing.T) {
	t.Parallel()
	srv, px, other, rec, e := proxiedPresencePair(t, redis.Config{NodeID: "resyncing", PresenceLapse: resyncLapse})
	e.Attach(newRecorder())
	const topic = "room.resync"
	mustSubscribe(t, other, topic)
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "s1", User: "lost"})
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "s2", User: "kept"})
	waitChanges(t, rec, topic, "+lost", "+kept")

	// What a failover to a replica that missed the last writes would leave:
	// s1 gone, and a session "ghost" the node removed still there.
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	life := redis.PresenceLife(e)
	keys, _ := redis.PresenceKeys(e, topic, life)
	ctx := ctxFor(t)
	for _, err := range []error{
		admin.HDel(ctx, keys[0], "s1").Err(),
		admin.HDel(ctx, keys[1], "lost").Err(),
		admin.HSet(ctx, keys[0], "ghost", life+"\nghost-user").Err(),
		admin.HSet(ctx, keys[1], "ghost-user", "1\n").Err(),
		admin.SAdd(ctx, keys[2], "ghost").Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	px.Cut()
	px.Restore()
	// The node adds "lost" back, with a join other hands over again: the
	// broker sends it to the subscriptions that came after the first.
	waitChanges(t, rec, topic, "+lost", "+kept", "+lost", "-ghost-user")
	st := mustPresence(t, other, topic)
	if st.Sessions != 2 || len(st.Members) != 2 || st.Members[0].User != "kept" || st.Members[1].User != "lost" {
		t.Errorf("presence after the resync: %+v, want kept and lost, one session each", st)
	}
}

// When every node was cut off from Redis for longer than the lapse (all
// heartbeats lapsed at once), the first back does not remove the others'
// entries at once: it waits a third of a lapse of its own heartbeats, in
// which they come back too (trying every fifteenth of it) and add their
// entries back under new lives; the old lives then go without a leave.
func TestNodesBackFromAnOutageKeepEachOthersPresence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	es, rs := presenceCluster(t, srv.URL(), 2, 3*testLapse)
	const topic = "room.outage"
	mustSubscribe(t, es[1], topic)
	mustAdd(t, es[0], broker.PresenceEntry{Topic: topic, Session: "s1", User: "a"})
	mustAdd(t, es[1], broker.PresenceEntry{Topic: topic, Session: "s2", User: "b"})
	waitChanges(t, rs[1], topic, "+a", "+b")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	nodes := redis.PresenceNodes(es[0])
	old := []string{redis.PresenceLife(es[0]), redis.PresenceLife(es[1])}
	lapsed := func(life string) bool {
		score, err := admin.ZScore(ctxFor(t), nodes, life).Result()
		now, terr := admin.Time(ctxFor(t)).Result()
		return err == nil && terr == nil && score < float64(now.UnixMilli())
	}
	for _, e := range es {
		redis.Die(e)
	}
	if !eventually(func() bool { return lapsed(old[0]) && lapsed(old[1]) }) {
		t.Fatal("the heartbeats never lapsed")
	}
	// The node listening comes back first; the other right after it
	// added its own entries back, well within its lapse.
	redis.Revive(es[1])
	if !eventually(func() bool { return redis.PresenceLife(es[1]) != old[1] }) {
		t.Fatal("the first node back never added its entries back")
	}
	redis.Revive(es[0])
	gone := func(life string) bool {
		_, err := admin.ZScore(ctxFor(t), nodes, life).Result()
		return err == goredis.Nil
	}
	if !eventually(func() bool { return gone(old[0]) && gone(old[1]) }) {
		t.Fatal("the old lives were never cleaned up")
	}
	if got := kinds(rs[1].presenceChanges(topic)); !slices.Equal(got, []string{"+a", "+b"}) {
		t.Errorf("changes after the outage: %v, want none after +a +b", got)
	}
	if st := mustPresence(t, es[1], topic); st.Sessions != 2 || len(st.Members) != 2 {
		t.Errorf("presence after the outage: %+v, want a and b", st)
	}
}

// An add whose reply never came may have run: the node removes the entry
// again (at once, or once Redis answers), so that no member it does not
// know of stays behind.
func TestUnansweredAddIsUndone(t *testing.T) {
	t.Parallel()
	_, px, other, rec, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: testLapse, Timeout: 300 * time.Millisecond})
	const topic = "room.unanswered"
	mustSubscribe(t, other, topic)
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "s0"}) // registers the life
	px.Silence()
	if err := e.AddPresence(ctxFor(t), broker.PresenceEntry{Topic: topic, Session: "s1", User: "u"}); err == nil {
		t.Fatal("AddPresence without a reply succeeded")
	}
	px.Cut()
	px.Restore()
	waitChanges(t, rec, topic, "+u", "-u")
	if !eventually(func() bool {
		st, err := other.Presence(ctxFor(t), topic, broker.PresencePage{MaxBytes: broker.DefaultMaxPresenceBytes})
		return err == nil && st.Sessions == 1 && len(st.Members) == 0
	}) {
		t.Errorf("presence after the unanswered add: %+v, want s0 alone", mustPresence(t, other, topic))
	}
}

// proxiedPresencePair starts a Redis and two engines on it: other, which
// rec records, straight to Redis, and e, with cfg, through a proxy the
// test can cut. It returns once e watches its connection: the first
// replay of the change logs, which would read the logs of the topics the
// test subscribes, is done.
func proxiedPresencePair(t *testing.T, cfg redis.Config) (srv *redistest.Server, px *redistest.Proxy, other *redis.Engine, rec *recorder, e *redis.Engine) {
	t.Helper()
	srv = redistest.Start(t)
	px = redistest.StartProxy(t, srv.Addr())
	cfg.Prefix = uniquePrefix(t)
	other = newEngine(t, srv.URL(), redis.Config{Prefix: cfg.Prefix, NodeID: "other", PresenceLapse: time.Hour})
	rec = newRecorder()
	other.Attach(rec)
	e = newEngine(t, "redis://"+px.Addr()+"/0", cfg)
	if !eventually(func() bool { return redis.Probes(e) > 0 }) {
		t.Fatal("the engine never probed its pub/sub connection")
	}
	return srv, px, other, rec, e
}
