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

// get returns the state of name, nil when it has none. The result may be
// dead (dropped) by the time the caller locks it; it then has none.
func (t *table) get(name string) *topic {
	s := t.shard(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topics[name]
}

// lookup returns the state of name, creating it (the generation and epoch
// l names for it, at seq 0, made at now()) when there is none or only a
// dead one. The clock is read only then: it costs as much as the rest of
// a lookup. The result may be dropped before the caller locks it; callers
// then look again.
func (t *table) lookup(name string, l *lives, now func() int64) *topic {
	if tp := t.get(name); tp != nil && !tp.dead.Load() {
		return tp
	}
	s := t.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.topics[name]
	if tp == nil || tp.dead.Load() {
		gen, epoch := l.begin(name)
		tp = newTopic(name, gen, epoch, now())
		s.topics[name] = tp
		s.peak = max(s.peak, len(s.topics))
	}
	return tp
}

// remove takes the dropped topics out of the table, unless a new state of
// the same name took their place already.
func (t *table) remove(dropped []*topic) {
	for _, tp := range dropped {
		s := t.shard(tp.name)
		s.mu.Lock()
		if s.topics[tp.name] == tp {
			delete(s.topics, tp.name)
			s.shrink()
		}
		s.mu.Unlock()
	}
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

// sweep takes out of the table every topic for which drop says so, and
// returns how many.
func (t *table) sweep(drop func(*topic) bool) int {
	freed := 0
	for i := range t.shards {
		freed += t.shards[i].sweep(drop)
	}
	return freed
}

func (s *shard) sweep(drop func(*topic) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	freed := 0
	for name, tp := range s.topics {
		if drop(tp) {
			delete(s.topics, name)
			freed++
		}
	}
	s.shrink()
	return freed
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
