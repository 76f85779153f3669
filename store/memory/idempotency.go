package memory

import (
	"slices"

	"github.com/herald-broker/herald/broker"
)

// idemKeys remembers, for one topic, the result of each publish made with
// an idempotency key, for a TTL. Keeping them in the topic bounds them per
// topic (one publisher's keys never push out another topic's) and lets
// them count toward the engine's byte budget with the topic. Every key
// lives as long as every other, so keys expire in the order they were made:
// a FIFO queue beside the map, whose front expiry and the bound both pop.
// No scan is ever needed. Callers hold the topic's mu.
type idemKeys struct {
	byKey map[string]idemEntry // nil until the topic's first key
	order []idemKey            // byKey's keys, oldest first, from head on
	head  int
	bytes int64 // what the keys cost (keyCost each)
}

// idemEntry is a publish's first result; its topic is the key's.
type idemEntry struct {
	epoch string
	seq   uint64
	id    string
	at    int64
}

type idemKey struct {
	key string
	at  int64
}

// maxRawKey is the longest idempotency key kept as it is; longer keys are
// kept as broker.StoredIdempotencyKey names them, so that what one
// remembered key costs is bounded whatever clients send.
const maxRawKey = broker.MaxRawIdempotencyKey

func idemMapKey(key string) string { return broker.StoredIdempotencyKey(key) }

// idemKeyOverhead is what a remembered key costs beside its key and id
// bytes: its map slot (a 16-byte key and a 48-byte entry, with the map's
// load factor and growth slack) and its 24-byte queue slot, with slack.
const idemKeyOverhead = 160

// idemMapBase is what a topic's map of keys costs before its first key.
const idemMapBase = 256

func keyCost(key string, e idemEntry) int64 {
	return idemKeyOverhead + int64(len(key)+len(e.id))
}

// get returns the first result published with key, if it is remembered;
// callers expire the old keys first.
func (d *idemKeys) get(key string) (idemEntry, bool) {
	e, ok := d.byKey[idemMapKey(key)]
	return e, ok
}

// put remembers e for key, first forgetting the oldest keys while the
// topic holds bound of them; it returns how many it forgot so. Callers
// checked with get first, so the key is not present.
func (d *idemKeys) put(key string, e idemEntry, bound int) (evicted int) {
	k := idemMapKey(key)
	for d.len() >= bound {
		d.popFront()
		evicted++
	}
	if d.byKey == nil {
		d.byKey = make(map[string]idemEntry)
		d.bytes = idemMapBase
	}
	d.byKey[k] = e
	d.order = append(d.order, idemKey{key: k, at: e.at})
	d.bytes += keyCost(k, e)
	return evicted
}

// len returns how many keys are remembered.
func (d *idemKeys) len() int { return len(d.byKey) }

// expire pops keys older than ttl from the front and returns how many.
func (d *idemKeys) expire(now, ttl int64) (n int) {
	for d.head < len(d.order) && now-d.order[d.head].at >= ttl {
		d.popFront()
		n++
	}
	return n
}

// popFront forgets the oldest key and compacts the queue once half of it is
// popped, so it costs amortised O(1) and never grows past twice the keys.
// The last key takes the map with it: a topic that stopped using keys
// holds nothing for them.
func (d *idemKeys) popFront() {
	front := d.order[d.head]
	if e, ok := d.byKey[front.key]; ok && e.at == front.at {
		delete(d.byKey, front.key)
		d.bytes -= keyCost(front.key, e)
	}
	d.order[d.head] = idemKey{}
	d.head++
	switch {
	case len(d.byKey) == 0:
		*d = idemKeys{}
	case d.head >= 16 && d.head*2 >= len(d.order):
		d.order, d.head = slices.Clone(d.order[d.head:]), 0 // a new array: memory follows the keys
	}
}
