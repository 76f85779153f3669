package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent /readyz requests share one check; a check that found the
// engine ready answers those that come within readyFresh, and one that
// failed answers nobody after it: the next request checks again.
func TestReadinessChecksAreShared(t *testing.T) {
	var (
		checks  atomic.Int32
		release = make(chan error)
		clock   = time.Unix(0, 0)
		clockMu sync.Mutex
	)
	r := newReadiness(
		func(ctx context.Context) error {
			checks.Add(1)
			select {
			case err := <-release:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		func() uint64 { return 0 },
		func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock },
	)
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	ask := func(n int) <-chan error {
		answers := make(chan error, n)
		for range n {
			go func() { answers <- r.ready(context.Background()) }()
		}
		return answers
	}

	answers := ask(10)
	for checks.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the other nine join the check under way
	release <- nil
	for range 10 {
		if err := <-answers; err != nil {
			t.Fatalf("a ready engine answered %v", err)
		}
	}
	if n := checks.Load(); n != 1 {
		t.Fatalf("10 requests at once ran %d checks, want 1", n)
	}
	advance(readyFresh - time.Millisecond)
	if err := r.ready(context.Background()); err != nil || checks.Load() != 1 {
		t.Fatalf("within readyFresh of a ready answer: %v after %d checks, want nil after 1", err, checks.Load())
	}

	advance(time.Millisecond)
	refused := errors.New("refused")
	answers = ask(1)
	go func() { release <- refused }()
	if err := <-answers; !errors.Is(err, refused) {
		t.Fatalf("a failing check answered %v, want %v", err, refused)
	}
	answers = ask(1) // not taken from the failed check: a new one
	go func() { release <- nil }()
	if err := <-answers; err != nil || checks.Load() != 3 {
		t.Fatalf("after a failed check: %v after %d checks, want nil after 3", err, checks.Load())
	}

	// A request that gives up does not end the check for the others.
	advance(readyFresh)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.ready(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request that gave up answered %v", err)
	}
	answers = ask(1)
	release <- nil
	if err := <-answers; err != nil || checks.Load() != 4 {
		t.Fatalf("after a request gave up: %v after %d checks, want nil after 4", err, checks.Load())
	}
}
