package memory

import (
	"time"

	"go.uber.org/zap"
)

// runJanitor frees idle topics and expired idempotency keys every interval
// until Close. Expiry is exact without it (every access checks ages); the
// janitor is what gives the memory back.
func (e *Engine) runJanitor(interval time.Duration) {
	defer close(e.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			e.sweep()
		}
	}
}

// sweep is one janitor pass.
func (e *Engine) sweep() {
	now := e.clock()
	if freed := e.topics.sweep(now, e.ttl()); freed > 0 {
		e.log.Debug("freed idle topics", zap.Int("topics", freed), zap.Duration("ttl", e.cfg.HistoryTTL))
	}
	e.idem.expireAll(now)
	if n := e.idem.evicted.Swap(0); n > 0 {
		e.log.Warn("idempotency keys forgotten before their TTL: the key bound is reached",
			zap.Uint64("keys", n), zap.Int("bound", e.cfg.IdempotencyKeys))
	}
}
