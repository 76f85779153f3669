package api

import (
	"context"
	"sync"
	"time"
)

// readyFresh is how long a check that found the engine ready answers
// every /readyz: a prober learns that it no longer is this much late at
// most, and however many ask, a ready engine is asked at most once per
// readyFresh (a Redis call on store/redis), without a 429 for anyone. A
// check that failed answers only those that waited for it, so that the
// first /readyz after a recovery says so.
const readyFresh = 250 * time.Millisecond

// readiness shares the engine's readiness checks among the /readyz
// requests: those that come while one is under way wait for its answer,
// and those that come within readyFresh of one that found the engine
// ready take that.
type readiness struct {
	check func(context.Context) error
	now   func() time.Time

	mu      sync.Mutex
	running chan struct{} // closed when the check under way ends; nil: none
	err     error         // the last check's answer
	readyAt time.Time     // when the last check that found it ready ended; zero: never
}

// ready returns the engine's readiness as a check ended at most
// readyFresh ago, or a new one found it; ctx bounds the wait for it.
func (r *readiness) ready(ctx context.Context) error {
	r.mu.Lock()
	if !r.readyAt.IsZero() && r.now().Sub(r.readyAt) < readyFresh {
		r.mu.Unlock()
		return nil
	}
	running := r.running
	if running == nil {
		running = make(chan struct{})
		r.running = running
		// The check is everybody's: the request that started it may go
		// away without ending it for the others.
		go r.run(running)
	}
	r.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// run checks once, within readyTimeout, and hands the answer to those
// waiting on running.
func (r *readiness) run(running chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	err := r.check(ctx)
	cancel()
	r.mu.Lock()
	r.err, r.running = err, nil
	if err == nil {
		r.readyAt = r.now()
	} else {
		r.readyAt = time.Time{}
	}
	r.mu.Unlock()
	close(running)
}
