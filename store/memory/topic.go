package memory

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/herald-broker/herald/broker"
)

// topic is one topic's state: its epoch, last seq, history and
// idempotency keys. Only a publish creates one: a topic never published to
// has none (lives names its epoch).
//
// Two locks: publishMu is held by a publisher from taking its seq until the
// Handler returns, so one topic's deliveries never overlap and follow seq
// order; mu guards the fields and is held only briefly, never across the
// Handler, so History and Position (even from inside the Handler) never
// wait for a delivery. Lock order: publishMu, then mu, then the engine's
// budget lock; anyone holding a later lock only ever TryLocks an earlier.
type topic struct {
	publishMu sync.Mutex

	mu        sync.Mutex
	name      string
	dead      atomic.Bool // dropped from its table; whoever holds it must look again
	gen       uint32      // which life of the topic this state is (lives)
	epoch     string
	seq       uint64
	history   ring
	histBytes int64 // what the messages in history cost (messageCost)
	keys      idemKeys
	touched   int64 // Unix nanoseconds of the last publish

	// Guarded by the budget's lock (and set only by holders of mu too).
	charged     int64    // what the budget counts for this topic
	keysCharged int      // the idempotency keys it counts for it
	list        *lruList // the budget list holding it; nil: none yet
	prev, next  *topic
}

// topicOverhead is what a topic's state costs beside its name, history
// and keys: the struct, its map slot, its epoch string and the allocator's
// rounding of them.
const topicOverhead = int64(unsafe.Sizeof(topic{})) + 48 + 16 + 32

// messageOverhead is what a message in history costs beside its data and
// id: the struct, its ring slot, and the allocator's rounding of the id.
const messageOverhead = int64(unsafe.Sizeof(broker.Message{})) + 8 + 16

func messageCost(m *broker.Message) int64 {
	return messageOverhead + int64(cap(m.Data)+len(m.ID))
}

func newTopic(name string, gen uint32, epoch string, now int64) *topic {
	return &topic{name: name, gen: gen, epoch: epoch, touched: now}
}

// cost is what the topic holds, as the budget counts it. Callers hold mu.
func (t *topic) cost() int64 {
	return topicOverhead + int64(len(t.name)) + int64(cap(t.history.buf))*8 + t.histBytes + t.keys.bytes
}

// idle reports whether the topic saw no publish for ttl (nanoseconds): its
// epoch is over, and the next publish starts generation gen+1. Callers
// hold mu.
func (t *topic) idle(now, ttl int64) bool { return now-t.touched >= ttl }

// renewIfIdle starts the next generation at seq 0 when the topic outlived
// its TTL, as if its state had been dropped already; its keys stay. Callers
// hold mu.
func (t *topic) renewIfIdle(now, ttl int64, l *lives) {
	if t.idle(now, ttl) {
		t.gen++
		t.epoch, t.seq, t.touched = l.epoch(t.name, t.gen), 0, now
		t.dropHistory()
	}
}

// dropHistory forgets every message and returns how many there were.
func (t *topic) dropHistory() int {
	n := t.history.n
	t.history.reset()
	t.histBytes = 0
	return n
}

// dropOldest forgets the oldest message; false when there was none.
func (t *topic) dropOldest() bool {
	m := t.history.dropOldest()
	if m != nil {
		t.histBytes -= messageCost(m)
	}
	return m != nil
}

// append gives req the next seq and keeps it. Callers hold publishMu and mu.
func (t *topic) append(req broker.PublishRequest, now int64, historySize int) *broker.Message {
	t.seq++
	t.touched = now
	m := &broker.Message{
		Topic: t.name, // one copy of the name for every message of the topic
		Epoch: t.epoch,
		Seq:   t.seq,
		ID:    req.ID,
		Time:  req.Time,
		Data:  req.Data,
	}
	t.histBytes += messageCost(m)
	if dropped := t.history.push(m, historySize); dropped != nil {
		t.histBytes -= messageCost(dropped)
	}
	return m
}

// position is where a reader finds the topic; current is false when the
// topic is idle and reads as the next generation at seq 0, exactly what
// its next publish starts (and what a read answers once the janitor
// dropped it). Callers hold mu.
func (t *topic) position(now, ttl int64, l *lives) (p broker.Position, current bool) {
	if t.idle(now, ttl) {
		return broker.Position{Epoch: l.epoch(t.name, t.gen+1)}, false
	}
	return broker.Position{Epoch: t.epoch, Seq: t.seq}, true
}
