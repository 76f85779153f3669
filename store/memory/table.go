package memory

import (
	"hash/maphash"
	"sync"
)

// shardCount spreads topics over locks so that lookups of different topics
// rarely meet; a power of two so the shard is a mask away from the hash.
const shardCount = 64

// shrinkFloor is the map size under which a shard never rebuilds its map:
// small maps cost too little to bother.
const shrinkFloor = 1024

// table maps topic names to their state, in shards with a lock each.
type table struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topic
	peak   int // most topics the map held since it was built
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].topics = make(map[string]*topic)
	}
	return t
}

func (t *table) shard(name string) *shard {
	return &t.shards[maphash.String(t.seed, name)&(shardCount-1)]
}

// lookup returns the state of name, creating it (a new epoch at seq 0) when
// there is none. The result may be marked dead by the janitor before the
// caller locks it; callers then look again.
func (t *table) lookup(name string, now int64) *topic {
	s := t.shard(name)
	s.mu.RLock()
	tp := s.topics[name]
	s.mu.RUnlock()
	if tp != nil {
		return tp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tp = s.topics[name]; tp == nil {
		tp = newTopic(now)
		s.topics[name] = tp
		s.peak = max(s.peak, len(s.topics))
	}
	return tp
}

// len returns how many topics have state.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.topics)
		s.mu.RUnlock()
	}
	return n
}

// sweep frees every topic idle for ttl nanoseconds and returns how many it
// freed. A topic someone holds is in use and left for a later sweep.
func (t *table) sweep(now, ttl int64) int {
	freed := 0
	for i := range t.shards {
		freed += t.shards[i].sweep(now, ttl)
	}
	return freed
}

func (s *shard) sweep(now, ttl int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	freed := 0
	for name, tp := range s.topics {
		if tp.freeIfIdle(now, ttl) {
			delete(s.topics, name)
			freed++
		}
	}
	s.shrink()
	return freed
}

// freeIfIdle marks the topic dead when it is idle and nobody holds it.
func (t *topic) freeIfIdle(now, ttl int64) bool {
	if !t.publishMu.TryLock() {
		return false
	}
	defer t.publishMu.Unlock()
	if !t.mu.TryLock() {
		return false
	}
	defer t.mu.Unlock()
	if !t.idle(now, ttl) {
		return false
	}
	t.dead = true
	return true
}

// shrink rebuilds the map once it holds a quarter of its peak: Go maps keep
// their buckets after deletes, and memory must follow the topics in use,
// not the most ever used. Callers hold mu.
func (s *shard) shrink() {
	if s.peak < shrinkFloor || len(s.topics)*4 > s.peak {
		return
	}
	m := make(map[string]*topic, len(s.topics))
	for name, tp := range s.topics {
		m[name] = tp
	}
	s.topics, s.peak = m, len(m)
}
