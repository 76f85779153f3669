package redis_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// summary writes spans as runs, "m1-10 g11-210 m211-310": messages, gaps.
func summary(spans []span) string {
	var runs []string
	for i := 0; i < len(spans); {
		j := i
		for !spans[i].gap && j+1 < len(spans) && !spans[j+1].gap &&
			spans[j+1].epoch == spans[i].epoch && spans[j+1].from == spans[j].to+1 {
			j++
		}
		kind := "m"
		if spans[i].gap {
			kind = "g"
		}
		runs = append(runs, fmt.Sprintf("%s%d-%d", kind, spans[i].from, spans[j].to))
		i = j + 1
	}
	return strings.Join(runs, " ")
}

func publishN(t *testing.T, e broker.Engine, topic string, n int) broker.PublishResult {
	t.Helper()
	var res broker.PublishResult
	for range n {
		res = mustPublish(t, e, request(topic))
	}
	return res
}

// A subscriber whose pub/sub connection was down while more messages than
// history holds were published gets the ones history kept, after a gap
// for the others: never a silent jump from 10 to 211.
func TestLossWhileDisconnectedIsReportedAsGap(t *testing.T) {
	pub, sub, px, rec := behindProxy(t, redis.Config{HistorySize: 100})
	mustSubscribe(t, sub, "loss")
	mustSubscribe(t, sub, "lp.*")
	topics := []string{"loss", "lp.x"} // by a topic, and by a pattern
	for _, topic := range topics {
		res := publishN(t, pub, topic, 10)
		rec.waitCovered(t, topic, res.Epoch, 10)
	}

	px.Cut()
	epochs := map[string]string{}
	for _, topic := range topics {
		epochs[topic] = publishN(t, pub, topic, 300).Epoch
	}
	px.Restore()
	for _, topic := range topics {
		got := summary(rec.waitCovered(t, topic, epochs[topic], 310))
		if want := "m1-10 g11-210 m211-310"; got != want {
			t.Errorf("%s after the outage: %s, want %s", topic, got, want)
		}
	}
	rec.checkBreaches(t)
}

// A message arriving after messages that reached history but not this node
// brings what history still holds, after a gap for what it lost.
func TestGapBeforeAMessageIsReported(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// No periodic check: only the gap before the last message tells.
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 100, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "gp.*")
	first := mustPublish(t, pub, request("gp.a"))
	sub.rec.waitCovered(t, "gp.a", first.Epoch, 1)
	for range 150 {
		inject(t, srv, prefix, "gp.a")
	}
	last := mustPublish(t, pub, request("gp.a")) // seq 152; history keeps 53..152
	got := summary(sub.rec.waitCovered(t, "gp.a", last.Epoch, 152))
	// History lost 2..52 by the last publish. A check of the node's own
	// (the one after its connect, late on a busy machine) may have read
	// the first injected seqs while history still held them: m1-k, k < 52.
	var k int
	if _, err := fmt.Sscanf(got, "m1-%d", &k); err != nil || k > 51 ||
		got != fmt.Sprintf("m1-%d g%d-52 m53-152", k, k+1) {
		t.Fatalf("after 150 messages pub/sub lost: %s, want m1-1 g2-52 m53-152 (or m1-k gk+1-52 m53-152)", got)
	}
	sub.rec.checkBreaches(t)
}

// stalling is a recorder whose first HandleMessage blocks until release:
// a node whose receive loop stopped reading.
type stalling struct {
	*recorder
	once, released sync.Once
	stalled        chan struct{}
	gate           chan struct{}
}

func (s *stalling) HandleMessage(m *broker.Message) {
	s.once.Do(func() { close(s.stalled); <-s.gate })
	s.recorder.HandleMessage(m)
}

func (s *stalling) release() { s.released.Do(func() { close(s.gate) }) }

// Redis drops a pub/sub client that reads too slowly (its output buffer
// overflowed): what it dropped is reported as a gap too.
func TestSlowReaderDroppedByRedisGetsAGap(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := ctxFor(t)
	if err := admin.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 65536 0 0").Err(); err != nil {
		t.Fatalf("CONFIG SET: %v", err)
	}
	prefix := uniquePrefix(t)
	pub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	// A long timeout: the probe must not replace the stalled connection
	// before Redis drops it.
	sub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100, Timeout: waitTimeout})
	h := &stalling{recorder: newRecorder(), stalled: make(chan struct{}), gate: make(chan struct{})}
	sub.Attach(h)
	t.Cleanup(h.release) // before the engine's Close, which waits for the handler
	mustSubscribe(t, sub, "slow")
	mustPublish(t, pub, request("slow"))
	<-h.stalled

	before := pubsubClients(t, admin)
	big := request("slow")
	big.Data = fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("x", 4096))
	var last broker.PublishResult
	for range 3000 {
		last = mustPublish(t, pub, big)
	}
	// Nothing else ends the stalled connection: its probe waits longer.
	if !eventually(func() bool { return pubsubClients(t, admin) < before }) {
		t.Fatal("Redis did not drop the stalled subscriber for its output buffer")
	}
	h.release()
	spans := h.waitCovered(t, "slow", last.Epoch, last.Seq)
	if len(h.gaps("slow")) == 0 {
		t.Fatalf("every message delivered though Redis dropped some: %s", summary(spans))
	}
	t.Logf("delivered: %s", summary(spans))
	h.checkBreaches(t)
}

// pubsubClients is how many pub/sub connections Redis has.
func pubsubClients(t *testing.T, rdb *goredis.Client) int {
	list, err := rdb.ClientList(ctxFor(t)).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	n := 0
	for line := range strings.Lines(list) {
		if strings.Contains(line, " flags=P ") {
			n++
		}
	}
	return n
}
