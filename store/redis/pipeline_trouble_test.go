package redis_test

import (
	"context"
	"errors"
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

// What a call that shares a pipeline meets (pipeline_test.go): its caller
// giving up while it waits, Redis losing its scripts, Redis refusing some
// calls of a pipeline and not others.

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
