package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// readyFresh is how long a check that found the engine ready answers
// every /readyz: however many ask, a ready engine is asked at most once per
// readyFresh (a Redis call on store/redis), without a 429 for anyone. A
// check that failed answers only those that waited for it, so that the
// first /readyz after a recovery says so; and a ready answer is not given
// again once the engine had trouble after its check began (a publish
// answered 503 for want of Redis, say), so that a node never says it is
// ready right after it refused a publish.
const readyFresh = 250 * time.Millisecond

// errShuttingDown is every /readyz's answer once Shutdown has started.
var errShuttingDown = errors.New("the server is shutting down")

// readiness shares the engine's readiness checks among the /readyz
// requests: those that come while one is under way wait for its answer,
// and those that come within readyFresh of one that found the engine
// ready take that. The check runs on a goroutine of its own, owned by
// the readiness: close cancels it and waits for it, so that Shutdown
// leaves no call into the engine behind it.
type readiness struct {
	check    func(context.Context) error
	troubles func() uint64 // the engine's count of troubles (broker.TroubleCounter)
	now      func() time.Time

	stop    context.Context // ended by close: cancels the check under way
	cancel  context.CancelFunc
	running sync.WaitGroup // the check under way, if any

	mu      sync.Mutex
	closed  bool          // set by close: no check starts after it
	done    chan struct{} // closed when the check under way ends; nil: none
	err     error         // the last check's answer
	readyAt time.Time     // when the last check that found it ready ended; zero: never
	readyOf uint64        // troubles() as that check began
}

func newReadiness(check func(context.Context) error, troubles func() uint64, now func() time.Time) *readiness {
	stop, cancel := context.WithCancel(context.Background())
	return &readiness{check: check, troubles: troubles, now: now, stop: stop, cancel: cancel}
}

// ready returns the engine's readiness as a check ended at most
// readyFresh ago, or a new one found it; ctx bounds the wait for it.
func (r *readiness) ready(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errShuttingDown
	}
	if !r.readyAt.IsZero() && r.now().Sub(r.readyAt) < readyFresh && r.troubles() == r.readyOf {
		r.mu.Unlock()
		return nil
	}
	done := r.done
	if done == nil {
		done = make(chan struct{})
		r.done = done
		// The check is everybody's: the request that started it may go
		// away without ending it for the others.
		r.running.Add(1)
		go r.run(done)
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// run checks once, within readyTimeout or until close, and hands the
// answer to those waiting on done.
func (r *readiness) run(done chan struct{}) {
	defer r.running.Done()
	troubles := r.troubles()
	ctx, cancel := context.WithTimeout(r.stop, readyTimeout)
	err := r.check(ctx)
	cancel()
	r.mu.Lock()
	r.err, r.done = err, nil
	if err == nil {
		r.readyAt, r.readyOf = r.now(), troubles
	} else {
		r.readyAt = time.Time{}
	}
	r.mu.Unlock()
	close(done)
}

// close cancels the check under way, starts no other, and waits until
// the check has returned or ctx has ended.
func (r *readiness) close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	ended := make(chan struct{})
	// Ends once the check has, which the cancel above hastens: when ctx
	// ends first, it outlives close by as long as the check ignores it.
	go func() { r.running.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("readiness check still running: %w", ctx.Err())
	}
}
