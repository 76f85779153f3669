package broker

import "sync"

// fanoutScratch is the per-call memory of HandleMessage, pooled so that a
// delivery allocates nothing per subscriber.
type fanoutScratch struct {
	entries []*entry
}

var scratchPool = sync.Pool{New: func() any { return &fanoutScratch{entries: make([]*entry, 0, 8)} }}

// HandleMessage fans m out to the local subscribers of its topic. The
// engine calls it in seq order per topic, concurrently for different
// topics. m is encoded once per matching topic or pattern, and the same
// frame is queued on every connection; a connection matching several of its
// subscriptions gets m once, through the first that matches (the exact
// topic before patterns).
func (b *Broker) HandleMessage(m *Message) {
	sc := scratchPool.Get().(*fanoutScratch)
	sh := b.idx.rlock(m.Topic)
	entries := b.idx.matchLocked(sh, m.Topic, sc.entries[:0])
	var sent uint64
	for i, e := range entries {
		sent += deliver(m, e, entries[:i])
	}
	b.idx.runlock(sh)
	clear(entries)
	sc.entries = entries[:0]
	scratchPool.Put(sc)
	b.stats.messagesOut.Add(sent)
}

// deliver sends m to the subscribers of e that did not get it through one
// of the earlier entries.
func deliver(m *Message, e *entry, earlier []*entry) (sent uint64) {
	if len(e.subs) == 0 {
		return 0
	}
	var frame []byte
	if e.tagged {
		frame = messageFrame(m, e.pattern)
	} else {
		frame = messageFrame(m, "")
	}
	for _, sub := range e.subs {
		if len(earlier) > 0 && sub.session.subscribedToAny(earlier) {
			continue
		}
		if sub.offer(m, frame) {
			sent++
		}
	}
	return sent
}

// subscribedToAny reports whether the session has a subscription in one of
// entries. Called under the index read lock, which keeps sub.entry still.
func (s *Session) subscribedToAny(entries []*entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		for _, e := range entries {
			if sub.entry == e {
				return true
			}
		}
	}
	return false
}
