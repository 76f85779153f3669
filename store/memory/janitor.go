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
	var reported Stats
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			e.sweep()
			reported = e.report(reported)
		}
	}
}

// sweep is one janitor pass.
func (e *Engine) sweep() {
	now := e.clock()
	if freed := e.topics.sweep(func(tp *topic) bool { return e.expire(tp, now) }); freed > 0 {
		e.log.Debug("freed idle topics", zap.Int("topics", freed), zap.Duration("ttl", e.cfg.HistoryTTL))
	}
}

// report warns of what the bounds took since the last report: each is a
// resume or a retry that will not find what it expects.
func (e *Engine) report(last Stats) Stats {
	s := e.Stats()
	if n := s.IdempotencyEvictions - last.IdempotencyEvictions; n > 0 {
		e.log.Warn("idempotency keys forgotten before their TTL: a topic's key bound or the memory budget is reached",
			zap.Uint64("keys", n), zap.Int("per_topic", e.cfg.IdempotencyKeysPerTopic))
	}
	if n := s.HistoryEvictions - last.HistoryEvictions; n > 0 {
		e.log.Warn("history dropped to stay within HERALD_MAX_HISTORY_BYTES: resumes from before it answer recovered:false",
			zap.Uint64("topics", n), zap.Uint64("messages", s.MessagesEvicted-last.MessagesEvicted),
			zap.Uint64("topic_states", s.TopicEvictions-last.TopicEvictions), zap.Int64("bytes", s.MaxHistoryBytes))
	}
	return s
}
