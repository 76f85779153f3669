package broker

import (
	"hash/maphash"
	"sync"
)

// indexShards is how many locks the exact-topic map is split over, so that
// fan-out of different topics and subscribes to them rarely meet.
const indexShards = 64

// entry is one topic or pattern with its local subscriptions, at most one
// per connection. Its subs are read under the owning lock's read side.
type entry struct {
	pattern string
	tagged  bool // a pattern: messages carry "pattern"
	subs    []*subscription
	// epoch is the epoch the topic's last subscription started in, its
	// string shared by the subscriptions that start in it, which would
	// otherwise keep a copy each (an engine makes one per answer).
	// Guarded by the write side of the owning lock.
	epoch string
}

// sharedEpoch returns e's copy of epoch, which becomes e's own when
// they differ. Called with the owning lock held for writing.
func (e *entry) sharedEpoch(epoch string) string {
	if e.epoch != epoch {
		e.epoch = epoch
	}
	return e.epoch
}

// index finds the subscriptions whose topic or pattern matches a topic:
// exact topics in sharded maps, wildcard patterns in a radix trie (trie.go)
// with a '*' branch and a '>' end at each node, as NATS's sublist has per
// token.
type index struct {
	seed     maphash.Seed
	shards   [indexShards]exactShard
	patterns patternTrie
}

type exactShard struct {
	mu     sync.RWMutex
	topics map[string]*entry
	cache  candidateCache // the pattern picks of this shard's topics
	// watched are the presence:true subscriptions of the shard's topics
	// that have any (presence_watchers.go); nil while none has.
	watched map[string]*watchers
}

type patternTrie struct {
	mu       sync.RWMutex
	root     node
	entries  map[string]*entry // by pattern, for lookups and listing
	gen      uint64            // counts the changes to the entries' subs
	uncached bool              // never keep picks (candidates.go); for tests
	// sessions and addresses are what the walk bounds count the
	// sessions holding patterns, and their addresses, as (walkowners.go).
	sessions  map[*Session]*walkOwner
	addresses map[addressKey]*walkOwner
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		ix.shards[i].topics = make(map[string]*entry)
	}
	ix.patterns.entries = make(map[string]*entry)
	return ix
}

func (ix *index) shard(topic string) *exactShard {
	return &ix.shards[maphash.String(ix.seed, topic)%indexShards]
}

// add puts sub under its pattern and reports whether the pattern is new to
// the index.
func (ix *index) add(sub *subscription) (created bool) {
	if sub.exact {
		sh := ix.shard(sub.pattern)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		e := sh.topics[sub.pattern]
		if e == nil {
			e = &entry{pattern: sub.pattern}
			sh.topics[sub.pattern] = e
			created = true
		}
		e.insert(sub)
		if sub.presence {
			sh.watch(sub)
		}
		return created
	}
	t := &ix.patterns
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	e := t.entries[sub.pattern]
	if e == nil {
		e = &entry{pattern: sub.pattern, tagged: true}
		t.entries[sub.pattern] = e
		t.root.insert(sub.pattern, e)
		created = true
	}
	e.insert(sub)
	t.own(sub.session, e.pattern)
	return created
}

// shared returns the index's own copy of pattern when it holds that topic
// or pattern, so that a new subscription to it keeps no copy of its own
// (the command's, unquoted from the client's JSON); pattern otherwise.
func (ix *index) shared(pattern string) string {
	var e *entry
	if IsPattern(pattern) {
		ix.patterns.mu.RLock()
		e = ix.patterns.entries[pattern]
		ix.patterns.mu.RUnlock()
	} else {
		sh := ix.shard(pattern)
		sh.mu.RLock()
		e = sh.topics[pattern]
		sh.mu.RUnlock()
	}
	if e == nil {
		return pattern
	}
	return e.pattern
}

// remove takes sub out of the index. It reports whether sub was there and
// whether its pattern is now gone; removing twice is harmless.
func (ix *index) remove(sub *subscription) (removed, emptied bool) {
	if sub.exact {
		sh := ix.shard(sub.pattern)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		e := sub.entry
		if e == nil {
			return false, false
		}
		if sub.presence {
			sh.unwatch(sub)
		}
		if e.delete(sub) {
			delete(sh.topics, e.pattern)
			return true, true
		}
		return true, false
	}
	t := &ix.patterns
	t.mu.Lock()
	defer t.mu.Unlock()
	e := sub.entry
	if e == nil {
		return false, false
	}
	t.gen++
	t.disown(sub.session, e.pattern)
	if e.delete(sub) {
		delete(t.entries, e.pattern)
		t.root.remove(e.pattern)
		return true, true
	}
	return true, false
}

func (e *entry) insert(sub *subscription) {
	sub.entry, sub.pos = e, int32(len(e.subs))
	e.subs = append(e.subs, sub)
}

// delete swaps sub out in O(1) and reports whether e is now empty.
func (e *entry) delete(sub *subscription) bool {
	last := int32(len(e.subs) - 1)
	moved := e.subs[last]
	e.subs[sub.pos], moved.pos = moved, sub.pos
	e.subs[last] = nil
	e.subs = e.subs[:last]
	sub.entry = nil
	return len(e.subs) == 0
}

// rlock read-locks what a match of topic reads; runlock undoes it. The
// shard is always taken before the trie.
func (ix *index) rlock(topic string) *exactShard {
	sh := ix.shard(topic)
	sh.mu.RLock()
	ix.patterns.mu.RLock()
	return sh
}

func (ix *index) runlock(sh *exactShard) {
	ix.runlockPatterns()
	sh.mu.RUnlock()
}

// runlockPatterns releases rlock's hold on the trie alone, for a caller
// that reads the shard longer; the shard is released after it.
func (ix *index) runlockPatterns() { ix.patterns.mu.RUnlock() }

// matchLocked appends to dst the entries matching topic, the exact one
// first. The caller holds rlock(topic); the entries are valid until runlock.
func (ix *index) matchLocked(sh *exactShard, topic string, dst []*entry) []*entry {
	if e := sh.topics[topic]; e != nil {
		dst = append(dst, e)
	}
	if len(ix.patterns.entries) == 0 {
		return dst
	}
	return ix.patterns.root.match(topic, dst)
}

// match is matchLocked with its own locking, for tests and listings.
func (ix *index) match(topic string, dst []*entry) []*entry {
	sh := ix.rlock(topic)
	defer ix.runlock(sh)
	return ix.matchLocked(sh, topic, dst)
}

// counts calls fn for every topic or pattern with its number of
// subscriptions (one per connection).
func (ix *index) counts(fn func(pattern string, subscribers int)) {
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.RLock()
		for p, e := range sh.topics {
			fn(p, len(e.subs))
		}
		sh.mu.RUnlock()
	}
	t := &ix.patterns
	t.mu.RLock()
	for p, e := range t.entries {
		fn(p, len(e.subs))
	}
	t.mu.RUnlock()
}
