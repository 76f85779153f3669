package limits

import (
	"net/netip"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
)

// entry is what the limiter remembers of one address.
type entry struct {
	limiter   *ConnLimiter // whose entry it is, for the Slots that name it
	key       netip.Addr
	open      int       // connections open now
	tokens    float64   // new connections it may open now
	stamp     time.Time // when tokens was brought up to date
	idleSince time.Time // when open fell to 0; set while linked
	commandBudget
	queue         *transport.AddressQueue // nil: no QueueBytes
	reads         *transport.AddressReads // nil: no ReadBytes
	subscriptions subscriptionBudget

	// The idle list, which holds the entry while open is 0.
	prev, next *entry
	linked     bool
}

var _ transport.AddressQueuer = (*entry)(nil)

// AddressQueue implements transport.AddressQueuer: the bound of e's
// address's own queued bytes, nil without QueueBytes.
func (e *entry) AddressQueue() *transport.AddressQueue { return e.queue }

var _ broker.AddressHolder = (*entry)(nil)

// HoldBytes implements broker.AddressHolder in e's AddressQueue: what a
// resume holds before its history is queued counts toward the same
// bound as what is queued.
func (e *entry) HoldBytes(n int) (int, bool) { return e.queue.Hold(n) }

// ReleaseBytes implements broker.AddressHolder.
func (e *entry) ReleaseBytes(n int) { e.queue.Release(n) }

var _ transport.AddressReader = (*entry)(nil)

// AddressReads implements transport.AddressReader: the bound of the read
// buffers e's address's connections keep, nil without ReadBytes.
func (e *entry) AddressReads() *transport.AddressReads { return e.reads }

// fill adds the tokens earned since stamp, up to burst. A clock that went
// back earns nothing.
func (e *entry) fill(now time.Time, rate, burst float64) {
	if !now.After(e.stamp) {
		return
	}
	e.tokens = min(burst, e.tokens+now.Sub(e.stamp).Seconds()*rate)
	e.stamp = now
}

// idleList is a doubly linked list threaded through the entries, so that
// moving an entry in or out costs no allocation.
type idleList struct {
	head, tail *entry
}

func (l *idleList) pushBack(e *entry) {
	e.prev, e.next, e.linked = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *idleList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next, e.linked = nil, nil, false
}
