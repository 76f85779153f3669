package broker

import "sync"

// A topic's messages go to one pattern subscription per connection: the
// first, in match order, of its patterns that match the topic. Finding it
// walks the trie and every matching pattern, so when a topic's patterns
// share connections enough that the walk costs over twice the delivery
// (a connection holding a thousand matching patterns), the pick is kept
// per topic until the patterns change. A fan-out then costs the same
// whatever number of a connection's patterns match (docs/protocol.md section 6);
// one that is not kept costs at most twice its delivery. The trie is
// walked again for a topic only after a pattern subscribe or unsubscribe
// (or an eviction).
const (
	cachedTopicsPerShard = 16   // 1,024 topics over the index's shards
	cachedSubsPerShard   = 2048 // 1 MiB of pointers at most over the shards
)

// MaxMatchingPatterns is how many of one connection's pattern
// subscriptions may match one topic (docs/protocol.md section 6). The
// walk that picks a topic's pattern subscriptions goes through every one
// that matches, and the picks of more than a few hundred connections are
// not kept (nor are any kept across a pattern subscribe or unsubscribe
// anywhere on the node), so without it 600 connections of one address,
// each with 1,000 patterns matching one topic, made every message of
// that topic cost 40 ms of CPU where 600 deliveries cost 17 µs. A
// connection found holding more is closed (ClosePolicyViolation) and its
// subscriptions leave the index at once, so each walk goes through at
// most this many of a connection's patterns, and past it once. Clients
// hold a few patterns that overlap (">", "chat.>", "chat.*"): 16 is far
// from them.
const MaxMatchingPatterns = 16

// candidateCache keeps the picks of the topics of one exact-topic shard.
// Picks of an older trie generation are never used, and are dropped first
// when room is needed: until then they hold on to the subscriptions they
// name (at most cachedSubsPerShard of them).
type candidateCache struct {
	mu     sync.Mutex // taken under the shard's and the trie's read locks
	topics map[string]*candidates
	subs   int // len(subs) over topics
}

type candidates struct {
	gen  uint64 // the trie's generation they were picked in
	subs []*subscription
}

// get returns topic's pick in generation gen, or nil.
func (c *candidateCache) get(topic string, gen uint64) []*subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.topics[topic]; k != nil && k.gen == gen {
		return k.subs
	}
	return nil
}

// put keeps a copy of subs as topic's pick in generation gen, making room
// by dropping older generations' picks, then others.
func (c *candidateCache) put(topic string, gen uint64, subs []*subscription) {
	if len(subs) > cachedSubsPerShard/4 {
		return // a pick this large saves little next to its delivery
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.topics == nil {
		c.topics = make(map[string]*candidates, cachedTopicsPerShard)
	}
	c.drop(topic)
	c.makeRoom(len(subs), func(k *candidates) bool { return k.gen != gen })
	c.makeRoom(len(subs), func(*candidates) bool { return true })
	c.topics[topic] = &candidates{gen: gen, subs: append([]*subscription(nil), subs...)}
	c.subs += len(subs)
}

func (c *candidateCache) full(n int) bool {
	return len(c.topics) >= cachedTopicsPerShard || c.subs+n > cachedSubsPerShard
}

// makeRoom drops picks that evict allows until n more subscriptions fit.
func (c *candidateCache) makeRoom(n int, evict func(*candidates) bool) {
	for t, k := range c.topics {
		if !c.full(n) {
			return
		}
		if evict(k) {
			c.drop(t)
		}
	}
}

func (c *candidateCache) drop(topic string) {
	if k := c.topics[topic]; k != nil {
		c.subs -= len(k.subs)
		delete(c.topics, topic)
	}
}

// candidatesLocked returns the pattern subscriptions that m's topic goes
// to, one per connection, in match order. The caller holds rlock(topic);
// the result is valid until runlock and, when it is sc's, until sc is
// used again.
func (ix *index) candidatesLocked(sh *exactShard, topic string, sc *fanoutScratch) []*subscription {
	t := &ix.patterns
	if len(t.entries) == 0 {
		return nil
	}
	if subs := sh.cache.get(topic, t.gen); subs != nil {
		return subs
	}
	sc.walked.keep = true
	entries := t.root.walk(topic, sc.entries[:0], &sc.walked)
	sc.entries = entries
	sc.countWalked(t, sc.walked.nodes, topic)
	clear(sc.walked.nodes)
	sc.walked.nodes, sc.walked.count = sc.walked.nodes[:0], 0
	switch len(entries) {
	case 0:
		return nil
	case 1:
		return entries[0].subs // one per connection already
	}
	subs, walked := sc.pick(entries)
	if walked >= 2*len(subs) && !t.uncached {
		sh.cache.put(topic, t.gen, subs)
	}
	return subs
}

// pick keeps, of the subscriptions of entries, the first of each
// connection, in sc.picked, and counts those it went through. The
// connections with more than MaxMatchingPatterns of them go in sc.over.
// Only a walk through more entries than that can find one, and only such
// a walk counts each connection's patterns: writing a count for every
// subscription walked made a message to 2,000 connections with two
// matching patterns each cost 13 % more (BenchmarkFanoutOverlappingPatterns).
func (sc *fanoutScratch) pick(entries []*entry) (picked []*subscription, walked int) {
	if sc.seen == nil {
		sc.seen = make(map[*Session]struct{})
	}
	count := len(entries) > MaxMatchingPatterns
	if count && sc.dups == nil {
		sc.dups = make(map[*Session]int32)
	}
	picked = sc.picked[:0]
	for _, e := range entries {
		walked += len(e.subs)
		for _, sub := range e.subs {
			if _, dup := sc.seen[sub.session]; !dup {
				sc.seen[sub.session] = struct{}{}
				picked = append(picked, sub)
			} else if count {
				sc.countDup(sub.session)
			}
		}
	}
	sc.picked, sc.counted = picked, count
	return picked, walked
}

// countDup counts one more of s's patterns that match, past its first,
// and puts s in sc.over once it has more than MaxMatchingPatterns.
func (sc *fanoutScratch) countDup(s *Session) {
	n := sc.dups[s] + 1
	sc.dups[s] = n
	if n == MaxMatchingPatterns { // its first and MaxMatchingPatterns more
		sc.over = append(sc.over, s)
	}
}
