package memory

import (
	"crypto/sha256"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/herald-broker/herald/broker"
)

const idemShardCount = 16

// idempotency remembers the result of each publish made with an
// idempotency key, per topic, for a TTL. Every key lives as long as every
// other, so keys expire in the order they were made: each shard keeps them
// in a FIFO queue beside its map, and expiry and the bound both pop the
// front. No scan is ever needed.
type idempotency struct {
	ttl      int64 // nanoseconds
	perShard int   // bound on keys per shard
	seed     maphash.Seed
	shards   [idemShardCount]idemShard
	evicted  atomic.Uint64 // keys forgotten before their TTL because of the bound
}

type idemShard struct {
	mu    sync.Mutex
	byKey map[string]idemEntry
	order []idemKey // byKey's keys, oldest first, from head on
	head  int
}

type idemEntry struct {
	result broker.PublishResult
	at     int64
}

type idemKey struct {
	key string
	at  int64
}

func newIdempotency(ttl int64, bound int) *idempotency {
	d := &idempotency{ttl: ttl, perShard: max(bound/idemShardCount, 1), seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].byKey = make(map[string]idemEntry)
	}
	return d
}

// maxRawKey is the longest idempotency key kept as it is; longer keys are
// kept as their SHA-256, so that what one remembered key costs is bounded
// whatever clients send.
const maxRawKey = 64

// idemMapKey scopes key to its topic: the same key on another topic is
// another publish. The separator (NUL for a raw key, 0x01 for a hashed one)
// cannot occur in a topic, so no two (topic, key) pairs meet.
func idemMapKey(topic, key string) string {
	if len(key) <= maxRawKey {
		return topic + "\x00" + key
	}
	sum := sha256.Sum256([]byte(key))
	return topic + "\x01" + string(sum[:])
}

func (d *idempotency) shard(k string) *idemShard {
	return &d.shards[maphash.String(d.seed, k)&(idemShardCount-1)]
}

// get returns the first result published with key on topic, if it is
// remembered and younger than the TTL.
func (d *idempotency) get(topic, key string, now int64) (broker.PublishResult, bool) {
	k := idemMapKey(topic, key)
	s := d.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now, d.ttl)
	e, ok := s.byKey[k]
	return e.result, ok
}

// put remembers result for key on topic. Callers checked with get first
// while holding the topic, so the key is not present.
func (d *idempotency) put(topic, key string, result broker.PublishResult, now int64) {
	k := idemMapKey(topic, key)
	s := d.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now, d.ttl)
	for len(s.order)-s.head >= d.perShard {
		s.popFront()
		d.evicted.Add(1)
	}
	s.byKey[k] = idemEntry{result: result, at: now}
	s.order = append(s.order, idemKey{key: k, at: now})
}

// expireAll drops expired keys of every shard, so memory goes back when
// publishing with keys stops.
func (d *idempotency) expireAll(now int64) {
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		s.expire(now, d.ttl)
		s.mu.Unlock()
	}
}

// len returns how many keys are remembered.
func (d *idempotency) len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.byKey)
		s.mu.Unlock()
	}
	return n
}

// expire pops keys older than ttl from the front. Callers hold mu.
func (s *idemShard) expire(now, ttl int64) {
	for s.head < len(s.order) && now-s.order[s.head].at >= ttl {
		s.popFront()
	}
}

// popFront forgets the oldest key and compacts the queue once half of it is
// popped, so it costs amortised O(1) and never grows past twice the keys.
// Callers hold mu.
func (s *idemShard) popFront() {
	front := s.order[s.head]
	if e, ok := s.byKey[front.key]; ok && e.at == front.at {
		delete(s.byKey, front.key)
	}
	s.order[s.head] = idemKey{}
	s.head++
	if s.head == len(s.order) {
		s.order, s.head = s.order[:0], 0
	} else if s.head >= 1024 && s.head*2 >= len(s.order) {
		s.order, s.head = append(s.order[:0], s.order[s.head:]...), 0
	}
}
