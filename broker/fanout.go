package broker

import (
	"slices"
	"sync"

	"go.uber.org/zap"
)

// fanoutScratch is the per-call memory of HandleMessage, pooled so that a
// delivery allocates nothing per subscriber.
type fanoutScratch struct {
	entries  []*entry
	flushers flushers
}

var scratchPool = sync.Pool{New: func() any {
	return &fanoutScratch{entries: make([]*entry, 0, 8), flushers: make(flushers, 0, 4)}
}}

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
		sent += deliver(m, e, entries[:i], &sc.flushers)
	}
	b.idx.runlock(sh)
	sc.flushers.flush()
	clear(entries)
	sc.entries = entries[:0]
	scratchPool.Put(sc)
	b.stats.messagesOut.Add(sent)
}

// HandleGap tells the local subscribers of g's topic that g's messages will
// never come, in their place: the gap goes through fan-out as a marker
// message, so it is held, ordered and sent once per connection as a
// message would be. An exact subscription that already has some of the
// range is told only of the rest.
func (b *Broker) HandleGap(g Gap) {
	if g.From == 0 || g.To < g.From {
		return
	}
	b.stats.gaps.Add(1)
	b.stats.gapMessages.Add(g.To - g.From + 1)
	b.log.Warn("messages lost: a gap is sent in their place",
		zap.String("topic", g.Topic), zap.String("epoch", g.Epoch),
		zap.Uint64("from", g.From), zap.Uint64("to", g.To))
	b.HandleMessage(&Message{Topic: g.Topic, Epoch: g.Epoch, Seq: g.To, gapFrom: g.From})
}

// deliver sends m to the subscribers of e that did not get it through one
// of the earlier entries.
func deliver(m *Message, e *entry, earlier []*entry, fl *flushers) (sent uint64) {
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
		var holder *subscription
		if len(earlier) > 0 {
			var skip bool
			if skip, holder = sub.session.earlierRoute(m, earlier); skip {
				continue
			}
		}
		if sub.offer(m, frame, fl) {
			sent++
			if holder != nil {
				holder.sawElsewhere(m)
			}
		}
	}
	return sent
}

// earlierRoute tells a later subscription of the session whether one of
// the earlier entries already carries m (skip). An exact subscription does
// not when it is still being set up (holder is told of m so that it does
// not send it again) or when it skipped m as older than its start. Called
// under the index read lock, which keeps sub.entry still and, for the
// topic's exact entry, its state too (goLive takes the write lock).
func (s *Session) earlierRoute(m *Message, entries []*entry) (skip bool, holder *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if !slices.Contains(entries, sub.entry) {
			continue
		}
		if !sub.exact {
			return true, nil
		}
		holding, took := sub.carries(m)
		if took {
			return true, nil
		}
		if holding {
			holder = sub
		}
	}
	return false, holder
}
