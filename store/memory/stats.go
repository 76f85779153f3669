package memory

// Stats are the engine's counters, for the metrics layer. The evictions
// count since New; the rest are the state now.
type Stats struct {
	Topics          int   // topic states held (only a publish creates one)
	HistoryBytes    int64 // what topics hold, as counted against MaxHistoryBytes
	MaxHistoryBytes int64 // the budget HistoryBytes stays under (MaxHistoryBytes less the share of lives)
	IdempotencyKeys int   // idempotency keys remembered

	// HistoryEvictions counts topics that lost history to the budget (all
	// of it, or their oldest messages), MessagesEvicted the messages
	// dropped so. Resumes from before them answer recovered:false.
	HistoryEvictions uint64
	MessagesEvicted  uint64
	// TopicEvictions counts topic states dropped to the budget: the
	// topic's next publish starts a new epoch.
	TopicEvictions uint64
	// IdempotencyEvictions counts keys forgotten before their TTL, by the
	// per-topic bound or the budget: a retry with one publishes again.
	IdempotencyEvictions uint64
}

// Stats returns the engine's counters. It takes the budget's lock briefly.
func (e *Engine) Stats() Stats {
	b := e.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Topics:               b.topics,
		HistoryBytes:         b.used,
		MaxHistoryBytes:      b.limit,
		IdempotencyKeys:      b.keys,
		HistoryEvictions:     b.historyEvictions,
		MessagesEvicted:      b.messagesEvicted,
		TopicEvictions:       b.topicEvictions,
		IdempotencyEvictions: b.keysEvicted,
	}
}

// IdempotencyKeyCount returns how many idempotency keys are remembered.
func (e *Engine) IdempotencyKeyCount() int { return e.Stats().IdempotencyKeys }
