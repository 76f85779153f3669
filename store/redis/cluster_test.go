package redis_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// node is one engine of a test cluster with the recorder attached to it.
type node struct {
	*redis.Engine
	rec *recorder
}

// cluster starts n engines sharing srv and one key prefix (cfg's, or a
// unique one), as n nodes.
func cluster(t *testing.T, srv *redistest.Server, n int, cfg redis.Config) []node {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	nodes := make([]node, n)
	for i := range nodes {
		c := cfg
		c.NodeID = fmt.Sprintf("node%d", i)
		nodes[i] = node{Engine: newEngine(t, srv.URL(), c), rec: newRecorder()}
		nodes[i].Attach(nodes[i].rec)
	}
	return nodes
}

var reqN atomic.Uint64

func request(topic string) broker.PublishRequest {
	n := reqN.Add(1)
	return broker.PublishRequest{
		Topic: topic,
		Data:  fmt.Appendf(nil, `{"n":%d}`, n),
		ID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		Time:  time.Now().UnixMilli(),
	}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mustPublish(t testing.TB, e broker.Engine, req broker.PublishRequest) broker.PublishResult {
	t.Helper()
	res, err := e.Publish(ctxFor(t), req)
	if err != nil {
		t.Fatalf("Publish(%q): %v", req.Topic, err)
	}
	return res
}

func mustSubscribe(t testing.TB, e broker.Engine, pattern string) {
	t.Helper()
	if err := e.Subscribe(ctxFor(t), pattern); err != nil {
		t.Fatalf("Subscribe(%q): %v", pattern, err)
	}
}

func TestCrossNodeDelivery(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 3, redis.Config{HistorySize: 10})
	mustSubscribe(t, nodes[1], "news")
	mustSubscribe(t, nodes[2], "news")
	req := request("news")
	res := mustPublish(t, nodes[0], req)
	for i, n := range nodes[1:] {
		m := n.rec.waitFor(t, "news", 1)[0]
		if m.Epoch != res.Epoch || m.Seq != 1 || m.ID != req.ID || m.Time != req.Time || string(m.Data) != string(req.Data) {
			t.Fatalf("node %d got %+v, want epoch %q seq 1 id %q data %s", i+1, m, res.Epoch, req.ID, req.Data)
		}
	}
	if got := nodes[0].rec.messages("news"); len(got) != 0 {
		t.Fatalf("the publishing node, not subscribed, got %d messages", len(got))
	}
	// A client resuming on another node reads the same history.
	h, err := nodes[2].History(ctxFor(t), "news", 0, 0)
	if err != nil || h.Epoch != res.Epoch || h.Seq != 1 || len(h.Messages) != 1 || h.Messages[0].ID != req.ID {
		t.Fatalf("History on another node = %+v, %v; want the message in epoch %q", h, err, res.Epoch)
	}
}

func TestCrossNodeDeliveryWithoutHistory(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 0})
	mustSubscribe(t, nodes[1], "nohist")
	for range 5 {
		mustPublish(t, nodes[0], request("nohist"))
	}
	wantSeqs(t, "without history", nodes[1].rec.waitFor(t, "nohist", 5), 1, 5)
	nodes[1].rec.checkBreaches(t)
}

func TestHistorySinceBeyondAnySeq(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	mustPublish(t, e, request("far"))
	h, err := e.History(ctxFor(t), "far", math.MaxUint64, 0)
	if err != nil || h.Seq != 1 || len(h.Messages) != 0 {
		t.Fatalf("History since MaxUint64 = %+v, %v; want seq 1 and no messages", h, err)
	}
}

func TestOneSeqOrderWithPublishersOnEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 3, redis.Config{HistorySize: 1000})
	const topic, each = "race", 60
	for _, n := range nodes {
		mustSubscribe(t, n, topic)
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range 2 {
			wg.Go(func() {
				for range each {
					if _, err := n.Publish(ctxFor(t), request(topic)); err != nil {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	total := uint64(len(nodes) * 2 * each)
	first := nodes[0].rec.waitFor(t, topic, int(total))
	wantSeqs(t, "node 0", first, 1, total)
	for i, n := range nodes[1:] {
		got := n.rec.waitFor(t, topic, int(total))
		wantSeqs(t, fmt.Sprintf("node %d", i+1), got, 1, total)
		for j := range got {
			if got[j].ID != first[j].ID {
				t.Fatalf("seq %d is message %s on node %d but %s on node 0", got[j].Seq, got[j].ID, i+1, first[j].ID)
			}
		}
		n.rec.checkBreaches(t)
	}
}

func TestIdempotencyAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 3, redis.Config{HistorySize: 10})
	mustSubscribe(t, nodes[2], "orders")
	req := request("orders")
	req.IdempotencyKey = "order-17"
	first := mustPublish(t, nodes[0], req)

	retry := request("orders") // a retry carries a new id from its node
	retry.IdempotencyKey = req.IdempotencyKey
	again := mustPublish(t, nodes[1], retry)
	if again != first {
		t.Fatalf("retry on another node = %+v, want the first result %+v", again, first)
	}
	mustPublish(t, nodes[1], request("orders")) // a sentinel behind the retry
	got := nodes[2].rec.waitFor(t, "orders", 2)
	if len(got) != 2 || got[0].ID != req.ID || got[1].Seq != 2 {
		t.Fatalf("subscriber got %d messages (first %s), want the first publish then the sentinel at seq 2", len(got), got[0].ID)
	}
}

func TestPatternsAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 3, redis.Config{HistorySize: 10})
	star, deep := nodes[1], nodes[2]
	mustSubscribe(t, star, "chat.*")
	mustSubscribe(t, deep, "chat.>")
	mustSubscribe(t, deep, "chat.a") // overlaps chat.> on the same node
	for _, topic := range []string{"chat", "chat.a", "chat.a.b", "chatx.a", "other.a", "chat.b"} {
		mustPublish(t, nodes[0], request(topic))
	}
	star.rec.waitFor(t, "chat.b", 1)
	deep.rec.waitFor(t, "chat.b", 1)
	for _, tc := range []struct {
		n     node
		name  string
		topic string
		want  int
	}{
		{star, "chat.*", "chat", 0}, {star, "chat.*", "chat.a", 1}, {star, "chat.*", "chat.a.b", 0},
		{star, "chat.*", "chatx.a", 0}, {star, "chat.*", "other.a", 0},
		{deep, "chat.>", "chat", 0}, {deep, "chat.>", "chat.a", 1}, {deep, "chat.>", "chat.a.b", 1},
		{deep, "chat.>", "chatx.a", 0},
	} {
		if got := len(tc.n.rec.messages(tc.topic)); got != tc.want {
			t.Errorf("node with %s got %d messages of %q, want %d", tc.name, got, tc.topic, tc.want)
		}
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	srv := redistest.Start(t)
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	for _, p := range []string{"a", "p.*", "p.>", "sentinel"} {
		mustSubscribe(t, sub, p)
	}
	if err := sub.Unsubscribe(ctxFor(t), "a"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if err := sub.Unsubscribe(ctxFor(t), "p.*"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if err := sub.Unsubscribe(ctxFor(t), "never-subscribed"); err != nil {
		t.Fatalf("Unsubscribe of an unknown pattern: %v", err)
	}
	mustPublish(t, pub, request("a"))
	mustPublish(t, pub, request("p.x.y")) // still wanted by p.>, which shares the glob of p.*
	mustPublish(t, pub, request("sentinel"))
	sub.rec.waitFor(t, "sentinel", 1)
	sub.rec.waitFor(t, "p.x.y", 1)
	if got := sub.rec.messages("a"); len(got) != 0 {
		t.Fatalf("unsubscribed topic delivered %d messages", len(got))
	}
	if err := sub.Unsubscribe(ctxFor(t), "p.>"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	mustPublish(t, pub, request("p.x.y"))
	mustPublish(t, pub, request("sentinel"))
	sub.rec.waitFor(t, "sentinel", 2)
	if got := sub.rec.messages("p.x.y"); len(got) != 1 {
		t.Fatalf("p.x.y delivered %d messages after its last pattern went, want the 1 before", len(got))
	}
}
