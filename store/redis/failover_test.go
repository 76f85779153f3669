//go:build unix

package redis_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// recoverWithin is how long the engine may take to publish again after its
// master was killed, without a restart.
const recoverWithin = 30 * time.Second

// TestSentinel runs the engine contract through Redis Sentinel (the engine
// finds the master by asking the sentinels), then kills the master.
func TestSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	t.Run("Contract", func(t *testing.T) { runContract(t, s.URL()) })
	t.Run("FailoverLosingMessages", func(t *testing.T) {
		testFailover(t, s.URL(), func(string) (master, replica *redistest.Node) {
			addr := s.MasterAddr()
			for _, n := range s.Servers() {
				if n.Addr() == addr {
					master = n
				} else {
					replica = n
				}
			}
			if master == nil {
				t.Fatal("the sentinels' master is none of the servers")
			}
			return master, replica
		})
	})
}

// TestCluster runs the engine contract on a Redis Cluster of three masters
// with a replica each, then kills the master of a topic's slot. Classic
// pub/sub reaches a node whichever master published.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	t.Run("TopicKeysInTopicSlot", func(t *testing.T) {
		// docs/protocol.md section 12: a topic's keys live in the slot of the topic itself.
		for _, topic := range []string{"news", "chat.room-7", "user:42.inbox"} {
			want := c.Slot(topic)
			for _, key := range []string{"herald:{" + topic + "}:meta", "herald:{" + topic + "}:hist", "herald:{" + topic + "}:idem:k"} {
				if got := c.Slot(key); got != want {
					t.Errorf("slot of %q = %d, want %d, the slot of %q", key, got, want, topic)
				}
			}
		}
	})
	t.Run("Contract", func(t *testing.T) { runContract(t, c.URL()) })
	t.Run("NoMaintNotifications", func(t *testing.T) { testNoMaintNotifications(t, c.URL()) })
	t.Run("DeadNodesPresence", func(t *testing.T) {
		admin := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
		defer admin.Close()
		testDeadNode(t, c.URL(), admin)
	})
	t.Run("LapsedNodesPresence", func(t *testing.T) { testLapsedNode(t, c.URL()) })
	// Before the tests that kill masters: they want a replica of each.
	t.Run("NoShardOnReplica", func(t *testing.T) { testNoShardOnReplica(t, c) })
	t.Run("TwinsFollowTheMasters", func(t *testing.T) { testTwinsFollowTheMasters(t, c) })
	t.Run("FailoverLosingMessages", func(t *testing.T) {
		testFailover(t, c.URL(), func(topic string) (master, replica *redistest.Node) {
			master = c.MasterOfKey(topic)
			for _, n := range c.Nodes() {
				if info(t, n, "replication")["master_port"] == strconv.Itoa(port(master)) {
					return master, n
				}
			}
			t.Fatalf("no replica of %s", master.Addr())
			return nil, nil
		})
	})
	t.Run("SubscribeRightAfterTakeover", func(t *testing.T) { testSubscribeRightAfterTakeover(t, c) })
	t.Run("PublishRightAfterTakeover", func(t *testing.T) { testPublishRightAfterTakeover(t, c) })
	t.Run("PublishesRightAfterTakeover", func(t *testing.T) { testPublishesRightAfterTakeover(t, c) })
	t.Run("PromotedReplicaStampedFirst", func(t *testing.T) { testPromotedReplicaStampedFirst(t, c) })
	t.Run("RejoinedMasterStampsAgain", func(t *testing.T) { testRejoinedMasterStampsAgain(t, c) })
	t.Run("HomedOnTakeover", func(t *testing.T) { testHomedOnTakeover(t, c) })
	t.Run("PatternAfterClassicBreak", func(t *testing.T) { testPatternAfterClassicBreak(t, c) })
	// Last: it kills a master for good.
	t.Run("TakeoverAfterDeadMaster", func(t *testing.T) { testTakeoverAfterDeadMaster(t, c) })
}

// testFailover has the master holding topic acknowledge messages its
// replica never gets, kills it with SIGKILL, and publishes on: publishes
// answer unavailable until the replica took over, the engine finds the new
// master by itself, and the seqs the failover lost are never given to
// other messages in their epoch: the topic gets a new epoch, so a client
// resuming past the new master's seq is told recovered:false.
func testFailover(t *testing.T, url string, masterOf func(topic string) (master, replica *redistest.Node)) {
	const topic = "failover"
	cfg := redis.Config{HistorySize: 100, Prefix: uniquePrefix(t)}
	cfg.NodeID = "publisher"
	pub := newEngine(t, url, cfg)
	cfg.NodeID = "subscriber"
	sub := newEngine(t, url, cfg)
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, topic)
	var first broker.PublishResult
	for range 5 {
		first = mustPublish(t, pub, request(topic))
	}
	rec.waitFor(t, topic, 5)

	master, replica := masterOf(topic)
	admin := goredis.NewClient(&goredis.Options{Addr: master.Addr()})
	defer admin.Close()
	ctx := ctxFor(t)
	if n, err := admin.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v: the replica does not hold the first messages", n, err)
	}
	// Stop the replica, and fill the replication link's socket buffers with
	// a large write of the topic's slot: what the master acknowledges next
	// stays in its memory, and dies with it. The replica is stopped for far
	// less than the time after which it would be counted down.
	pid, _ := strconv.Atoi(info(t, replica, "server")["process_id"])
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	resume := func() {
		if stopped {
			stopped = false
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	filler := strings.Repeat("x", 32<<20)
	if err := admin.Set(ctx, "{"+topic+"}filler", filler, 0).Err(); err != nil {
		t.Fatal(err)
	}
	var lost broker.PublishResult
	for range 3 {
		lost = mustPublish(t, pub, request(topic))
	}
	if lost.Epoch != first.Epoch || lost.Seq != 8 {
		t.Fatalf("last publish before the kill = %+v, want seq 8 of epoch %s", lost, first.Epoch)
	}
	rec.waitFor(t, topic, 8)

	master.Kill()
	resume()
	killed := time.Now()
	unavailable := 0
	var next broker.PublishResult
	for {
		var err error
		if next, err = pub.Publish(ctx, request(topic)); err == nil {
			break
		}
		if broker.CodeOf(err) != broker.CodeUnavailable {
			t.Fatalf("publish after the kill: %v, want unavailable", err)
		}
		if unavailable++; time.Since(killed) > recoverWithin {
			t.Fatalf("no publish accepted within %v of the kill: %v", recoverWithin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("publishing again %v after the kill, %d publishes unavailable before", time.Since(killed), unavailable)
	// The replica that took over has seq 5 of the epoch; it must not give
	// seq 6 again: its first publish starts a new epoch.
	if next.Epoch == first.Epoch {
		t.Fatalf("first publish after the failover = %+v, in the epoch whose seqs 6-8 the old master acknowledged", next)
	}
	// A client that saw seq 8 resumes: another epoch, so recovered:false.
	// On Cluster each client reloads its slot map after its own failure,
	// so a read may still fail once.
	var h broker.HistoryResult
	var err error
	for deadline := killed.Add(recoverWithin); ; time.Sleep(20 * time.Millisecond) {
		h, err = pub.History(ctx, topic, lost.Seq, 0)
		if broker.CodeOf(err) != broker.CodeUnavailable || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || h.Epoch == first.Epoch {
		t.Fatalf("History since seq %d = %+v, %v; want another epoch than %s", lost.Seq, h.Position, err, first.Epoch)
	}
	if !eventually(func() bool {
		got := rec.messages(topic)
		return got[len(got)-1].ID == next.ID
	}) {
		t.Fatalf("the subscriber never got the message published in the new epoch %+v", next)
	}
	rec.checkBreaches(t)
	if err := pub.Ready(ctx); err != nil {
		t.Fatalf("Ready after the failover: %v", err)
	}
}

// info reads one section of a node's INFO as a map.
func info(t testing.TB, n *redistest.Node, section string) map[string]string {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
	defer c.Close()
	text, err := c.Info(ctxFor(t), section).Result()
	if err != nil {
		t.Fatalf("INFO %s of %s: %v", section, n.Addr(), err)
	}
	out := make(map[string]string)
	for _, line := range strings.Split(text, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

func port(n *redistest.Node) int {
	_, p, _ := strings.Cut(n.Addr(), ":")
	v, _ := strconv.Atoi(p)
	return v
}
