package memory

import (
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"sync"
)

// lives names the epochs of topics without keeping state for topics that
// have none. A topic's epoch is derived from the engine's seed, its name
// and its generation: which life of the topic this is. A topic never
// published to costs nothing: a read answers generation 0's epoch at seq
// 0, and the first publish takes that same epoch, so a client that
// subscribed before it resumes with recovered:true.
//
// When a topic's state is dropped (TTL or MaxHistoryBytes) its next state
// must not reuse an epoch it already numbered messages in, or a client
// holding {epoch, 5} would take the new life's seq 6 for the old one's.
// So the generation the topic's next state takes is remembered, keyed by
// a hash of the name. The record is bounded: when full, the seed changes
// and the record starts empty, which changes every derived epoch at once.
// That is always safe: a client whose epoch changed is told
// recovered:false, the worst being one needless recovered:false for a
// topic read but not yet published to when the seed changed.
type lives struct {
	mu   sync.Mutex
	seed maphash.Seed
	next map[uint64]uint32 // hash of a topic's name → its next generation
	max  int
}

// livesEntryBytes is what one record costs in its map (8-byte key, 4-byte
// value, control byte, load factor and growth slack).
const livesEntryBytes = 32

func newLives(maxEntries int) *lives {
	return &lives{seed: maphash.MakeSeed(), next: make(map[uint64]uint32), max: max(maxEntries, 64)}
}

// begin returns the generation and epoch a new state of name takes: the
// ones a read of name answers while it has no state.
func (l *lives) begin(name string) (gen uint32, epoch string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gen = l.next[maphash.String(l.seed, name)]
	return gen, l.derive(name, gen)
}

// epoch is the epoch of name in generation gen.
func (l *lives) epoch(name string, gen uint32) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.derive(name, gen)
}

// ended records that the state of name in generation gen was dropped.
// Two names with one hash share a record: the later of them merely skips
// a generation, which only ever makes an epoch new.
func (l *lives) ended(name string, gen uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := maphash.String(l.seed, name)
	if _, ok := l.next[h]; !ok && len(l.next) >= l.max {
		l.seed, l.next = maphash.MakeSeed(), make(map[uint64]uint32)
		h = maphash.String(l.seed, name)
	}
	l.next[h] = max(l.next[h], gen+1)
}

// derive returns 16 hex characters that differ across generations, topics
// and engines (the seed is random). Callers hold mu.
func (l *lives) derive(name string, gen uint32) string {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(name)
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], gen)
	h.Write(b[:4])
	binary.LittleEndian.PutUint64(b[:], h.Sum64())
	return hex.EncodeToString(b[:])
}
