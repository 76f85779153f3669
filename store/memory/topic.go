package memory

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/herald-broker/herald/broker"
)

// topic is one topic's state: its epoch, last seq and history.
//
// Two locks: publishMu is held by a publisher from taking its seq until the
// Handler returns, so one topic's deliveries never overlap and follow seq
// order; mu guards the fields and is held only briefly, never across the
// Handler, so History and Position (even from inside the Handler) never
// wait for a delivery. Lock order: publishMu, then mu.
type topic struct {
	publishMu sync.Mutex

	mu      sync.Mutex
	dead    bool // removed from its table; whoever holds it must look again
	epoch   string
	seq     uint64
	history ring
	touched int64 // Unix nanoseconds of the last publish, or of the epoch's start
}

func newTopic(now int64) *topic {
	return &topic{epoch: newEpoch(), touched: now}
}

// newEpoch returns 16 random hex characters: epochs of a topic must differ
// across restarts and expiries, so they cannot come from a counter.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// idle reports whether the topic saw no publish for ttl (nanoseconds).
// Callers hold mu.
func (t *topic) idle(now, ttl int64) bool { return now-t.touched >= ttl }

// renewIfIdle starts a new epoch at seq 0 when the topic outlived its TTL,
// as if its state had been freed already. Callers hold mu.
func (t *topic) renewIfIdle(now, ttl int64) {
	if t.idle(now, ttl) {
		t.epoch, t.seq, t.touched = newEpoch(), 0, now
		t.history.reset()
	}
}

// append gives req the next seq and keeps it. Callers hold publishMu and mu.
func (t *topic) append(req broker.PublishRequest, now int64, historySize int) *broker.Message {
	t.seq++
	t.touched = now
	m := &broker.Message{
		Topic: req.Topic,
		Epoch: t.epoch,
		Seq:   t.seq,
		ID:    req.ID,
		Time:  req.Time,
		Data:  req.Data,
	}
	t.history.push(m, historySize)
	return m
}

func (t *topic) position() broker.Position {
	return broker.Position{Epoch: t.epoch, Seq: t.seq}
}
