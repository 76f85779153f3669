package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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

// busy keeps Redis running a script for d, answering nobody, and returns
// once the script runs. The returned channel gets the script's error.
func busy(t *testing.T, srv *redistest.Server, d time.Duration) <-chan error {
	t.Helper()
	a := admin(t, srv.Addr())
	done := make(chan error, 1)
	go func() {
		err := a.Eval(context.Background(), sleepScript, nil, d.Microseconds()).Err()
		if errors.Is(err, goredis.Nil) {
			err = nil
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the script runs
	return done
}

// waitTrips waits until e has sent n pipelines of publishes.
func waitTrips(t *testing.T, e *redis.Engine, n uint64) {
	t.Helper()
	if !eventually(func() bool { trips, _ := redis.PublishRoundTrips(e); return trips >= n }) {
		t.Fatalf("round trip %d never went", n)
	}
}

// fill sends as many publishes as a client has pipelines in flight, while
// Redis is busy, so that the next ones wait. The returned func waits for
// them to succeed.
func fill(t *testing.T, e *redis.Engine, topic string) (wait func()) {
	t.Helper()
	trips0, _ := redis.PublishRoundTrips(e)
	errs := make(chan error, redis.MaxSenders)
	for range redis.MaxSenders {
		go func() { _, err := e.Publish(context.Background(), request(topic)); errs <- err }()
	}
	waitTrips(t, e, trips0+redis.MaxSenders)
	time.Sleep(50 * time.Millisecond) // counted as they start: now they are written
	return func() {
		t.Helper()
		for range redis.MaxSenders {
			if err := <-errs; err != nil {
				t.Fatalf("a publish in flight: %v", err)
			}
		}
	}
}

// A publisher whose context ends while its publish waits for its turn
// returns at once, told nothing was published, and it is not; the others
// go on together.
func TestCancelledPublishReturnsWhileOthersGoOn(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100, Timeout: 5 * time.Second,
		ProbeInterval: time.Hour, CheckInterval: time.Hour})
	mustPublish(t, e, request("cancel"))
	trips0, calls0 := redis.PublishRoundTrips(e)
	slept := busy(t, srv, time.Second)
	filled := fill(t, e, "cancel")

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := request("cancel")
	cancelledErr := make(chan error, 1)
	go func() { _, err := e.Publish(ctx, cancelled); cancelledErr <- err }()
	type outcome struct {
		res broker.PublishResult
		err error
	}
	others := make(chan outcome, 8)
	for range cap(others) {
		go func() { res, err := e.Publish(ctxFor(t), request("cancel")); others <- outcome{res, err} }()
	}
	time.Sleep(50 * time.Millisecond) // they wait behind the ones Redis holds

	start := time.Now()
	cancel()
	wantNothingPublished(t, "a waiting publish whose context ended", <-cancelledErr)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("the cancelled publisher returned %v after its context ended, with Redis busy", d)
	}
	seqs := map[uint64]bool{}
	for range cap(others) {
		o := <-others
		if o.err != nil || seqs[o.res.Seq] {
			t.Fatalf("a publish beside the cancelled one: %+v %v", o.res, o.err)
		}
		seqs[o.res.Seq] = true
	}
	filled()
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	trips, calls := redis.PublishRoundTrips(e)
	if trips-trips0 != redis.MaxSenders+1 || calls-calls0 != redis.MaxSenders+8 {
		t.Fatalf("%d calls in %d round trips, want the %d in flight, then the 8 others in one", calls-calls0, trips-trips0, redis.MaxSenders)
	}
	h, err := e.History(ctxFor(t), "cancel", 0, 0)
	if err != nil || h.Seq != 1+redis.MaxSenders+8 {
		t.Fatalf("history: %+v %v, want seq %d", h.Position, err, 1+redis.MaxSenders+8)
	}
	for _, m := range h.Messages {
		if m.ID == cancelled.ID {
			t.Fatalf("the publish cancelled before its turn is in history at seq %d", m.Seq)
		}
	}
}

// Calls Redis answers NOSCRIPT, because it lost its script cache while
// they waited, are sent again with the script, together, and each is
// published once.
func TestScriptFlushUnderABatchIsReloaded(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100, Timeout: 5 * time.Second,
		ProbeInterval: time.Hour, CheckInterval: time.Hour})
	mustPublish(t, e, request("flush"))
	flusher := admin(t, srv.Addr())
	do(t, flusher, "PING") // connected before Redis is busy, so its FLUSH waits in line
	// So are the engine's: a connection opened while Redis is busy would
	// write its publish after its handshake, behind the FLUSH.
	slept := busy(t, srv, 200*time.Millisecond)
	fill(t, e, "warm")()
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	trips0, calls0 := redis.PublishRoundTrips(e)
	slept = busy(t, srv, 500*time.Millisecond)
	filled := fill(t, e, "flush") // Redis holds them; the flush comes after them
	flushed := make(chan error, 1)
	go func() { flushed <- flusher.ScriptFlush(context.Background()).Err() }()
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { _, err := e.Publish(ctxFor(t), request("flush")); errs <- err }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatalf("publish after SCRIPT FLUSH: %v", err)
		}
	}
	filled()
	for _, err := range []error{<-slept, <-flushed} {
		if err != nil {
			t.Fatal(err)
		}
	}
	trips, calls := redis.PublishRoundTrips(e)
	if trips-trips0 != redis.MaxSenders+2 || calls-calls0 != redis.MaxSenders+8+8 {
		t.Fatalf("%d calls in %d round trips, want the %d in flight, the 8 others, and the 8 again with the script",
			calls-calls0, trips-trips0, redis.MaxSenders)
	}
	want := uint64(1 + redis.MaxSenders + 8)
	if h, err := e.History(ctxFor(t), "flush", 0, 0); err != nil || h.Seq != want || len(h.Messages) != int(want) {
		t.Fatalf("history: %+v with %d messages, %v; want %d of each", h.Position, len(h.Messages), err, want)
	}
}

// Publishes that share pipelines as Redis runs out of memory each get their
// own answer: those Redis took are in history under their seq, those it
// refused are told nothing was published, and are not.
func TestRefusedPublishInABatchFailsAlone(t *testing.T) {
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100000})
	mustPublish(t, e, request("full"))
	refusals["out of memory"].refuse(t, srv, a)
	data := []byte(`"` + strings.Repeat("x", 4<<10) + `"`)
	var mu sync.Mutex
	took := map[string]uint64{} // message ID → seq
	var refused []string
	var errs []error
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 1000 {
				req := request("full")
				req.Data = data
				res, err := e.Publish(ctxFor(t), req)
				mu.Lock()
				if err == nil {
					took[req.ID] = res.Seq
				} else {
					refused, errs = append(refused, req.ID), append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	refusals["out of memory"].restore(t, srv, a)
	for _, err := range errs {
		wantNothingPublished(t, "publish in a batch as memory ran out", err)
	}
	if len(took) == 0 || len(refused) == 0 {
		t.Fatalf("%d publishes taken, %d refused: want some of each", len(took), len(refused))
	}
	h, err := e.History(ctxFor(t), "full", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.Messages {
		if seq, ok := took[m.ID]; ok && seq != m.Seq {
			t.Fatalf("message %s is at seq %d, its publisher was told %d", m.ID, m.Seq, seq)
		}
		if slices.Contains(refused, m.ID) {
			t.Fatalf("refused message %s is in history at seq %d", m.ID, m.Seq)
		}
	}
	if want := uint64(1 + len(took)); h.Seq != want || len(h.Messages) != int(want) {
		t.Fatalf("history at seq %d with %d messages, want %d of each", h.Seq, len(h.Messages), want)
	}
}
