package redis

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/herald-broker/herald/broker"
)

// Stats are the engine's counters since New.
type Stats struct {
	// Errors are Redis calls made for the broker that failed: publish,
	// history and position reads, subscribe, readiness pings and the
	// periodic position checks. A call its caller cancelled is not one.
	Errors uint64
	// Reconnects are pub/sub connections replaced after they broke or
	// failed a probe or subscribe, attempts while Redis stays down included.
	// On Cluster a shard connection replaced alone counts one.
	Reconnects uint64
	// Rebases are topics this node started a new epoch for because their
	// seq went back in Redis, or their epoch to one the node had left: a
	// failover lost acknowledged messages.
	Rebases uint64
	// PresenceGaps are the times this node found that a topic's change log
	// no longer held where it stood (more changes than the log keeps went
	// by while its pub/sub connection was down, or a failover lost the
	// log's tail): joins and leaves in between may have been missed.
	PresenceGaps uint64
}

// stats are counted with atomics so that scraping them takes no lock.
type stats struct {
	errors       atomic.Uint64
	reconnects   atomic.Uint64
	rebases      atomic.Uint64
	presenceGaps atomic.Uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Errors: e.stats.errors.Load(), Reconnects: e.stats.reconnects.Load(), Rebases: e.stats.rebases.Load(),
		PresenceGaps: e.stats.presenceGaps.Load()}
}

var _ broker.TroubleCounter = (*Engine)(nil)

// Troubles counts the Redis calls that failed and the pub/sub connections
// replaced (broker.TroubleCounter): every one of them comes after Redis
// failed the engine.
func (e *Engine) Troubles() uint64 { return e.stats.errors.Load() + e.stats.reconnects.Load() }

func (s *stats) failed(err error) {
	if !errors.Is(err, context.Canceled) {
		s.errors.Add(1)
	}
}
