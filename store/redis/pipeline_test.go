package redis_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Concurrent publishes share round trips, keyed and unkeyed alike, and
// every one gets its own seq: distinct, without holes, rising for each
// publisher, and history holds each message under the seq its publisher
// was told.
//
// Redis holds the publishes it is sent (CLIENT PAUSE WRITE) until every
// publisher's first one is in flight or waits for a pipeline, so they
// share pipelines however the publishers are scheduled; and the calls'
// timeout is far beyond any wait for a CPU, since none may fail here.
func TestConcurrentPublishesShareRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10000, Timeout: time.Minute})
	const publishers, each, topics = 48, 40, 4
	a := admin(t, srv.Addr())
	do(t, a, "CLIENT", "PAUSE", "60000", "WRITE") // until the UNPAUSE below
	trips0, calls0 := redis.PublishRoundTrips(e)
	results := make([][]broker.PublishResult, publishers)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				req := request(fmt.Sprintf("shared%d", p%topics))
				if p%2 == 1 {
					req.IdempotencyKey = fmt.Sprintf("k%d-%d", p, i)
				}
				res, err := e.Publish(ctxFor(t), req)
				if err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
				results[p] = append(results[p], res)
			}
		})
	}
	// Keyed and unkeyed publishes go through two clients, each with
	// MaxSenders calls Redis holds; every other publisher's first call waits.
	queued := eventually(func() bool { return redis.QueuedCalls(e) == publishers-2*redis.MaxSenders })
	do(t, a, "CLIENT", "UNPAUSE")
	wg.Wait()
	if !queued {
		t.Fatalf("%d calls waited for a pipeline while Redis held the first ones, want %d", redis.QueuedCalls(e), publishers-2*redis.MaxSenders)
	}
	if t.Failed() {
		return
	}
	trips, calls := redis.PublishRoundTrips(e)
	trips, calls = trips-trips0, calls-calls0
	t.Logf("%d publishes in %d round trips", calls, trips)
	if calls != publishers*each || trips >= calls {
		t.Fatalf("%d calls in %d round trips, want %d calls in fewer round trips", calls, trips, publishers*each)
	}
	byTopic := map[string]map[uint64]string{} // seq → message ID
	for p, rs := range results {
		for i, r := range rs {
			if i > 0 && r.Seq <= rs[i-1].Seq {
				t.Fatalf("publisher %d got seq %d after %d", p, r.Seq, rs[i-1].Seq)
			}
			if byTopic[r.Topic] == nil {
				byTopic[r.Topic] = map[uint64]string{}
			}
			if other, dup := byTopic[r.Topic][r.Seq]; dup {
				t.Fatalf("%s seq %d given to %s and %s", r.Topic, r.Seq, other, r.ID)
			}
			byTopic[r.Topic][r.Seq] = r.ID
		}
	}
	for topic, ids := range byTopic {
		h, err := e.History(ctxFor(t), topic, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq != uint64(len(ids)) || len(h.Messages) != len(ids) {
			t.Fatalf("%s: position %d with %d messages, want %d of each", topic, h.Seq, len(h.Messages), len(ids))
		}
		for i, m := range h.Messages {
			if m.Seq != uint64(i+1) || m.ID != ids[m.Seq] {
				t.Fatalf("%s: history's message %d is %s at seq %d; seq %d was told to %s", topic, i, m.ID, m.Seq, m.Seq, ids[m.Seq])
			}
		}
	}
}

// A publish with nothing in flight goes at once and alone: it waits for no
// company.
func TestLonePublishGoesAlone(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	trips0, calls0 := redis.PublishRoundTrips(e)
	for range 20 {
		mustPublish(t, e, request("alone"))
	}
	trips, calls := redis.PublishRoundTrips(e)
	if trips-trips0 != 20 || calls-calls0 != 20 {
		t.Fatalf("20 publishes one after another: %d calls in %d round trips, want 20 in 20", calls-calls0, trips-trips0)
	}
}
