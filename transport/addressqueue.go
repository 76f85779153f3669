package transport

import "sync/atomic"

// AddressQueue bounds the bytes queued for the connections of one client
// address that are theirs alone (docs/protocol.md section 6): what the
// server sends a connection in answer to it (replies, resumed history,
// presence pages, pongs), not the frames of a fan-out, which every
// subscriber of a message shares. Each connection's queue is bounded by
// MaxQueueBytes, but an address holds up to HERALD_MAX_CONNECTIONS_PER_IP
// of them: 50 connections of one address that resumed history a message
// at a time and read nothing held 790 KB of heap each, open, once their
// sockets were full: some 800 MB for 1,000. Past the bound, the
// connection whose frame would cross it is closed with 4000, as a slow
// reader.
//
// One AddressQueue is shared by every connection of its address, on any
// goroutine; api/limits keeps it with the address's other budgets, and
// each connection's receiver names it (AddressQueuer).
type AddressQueue struct {
	limit  int64
	queued atomic.Int64
}

// NewAddressQueue is the bound of one address, limit bytes; nil (no
// bound) for a limit of 0 or less.
func NewAddressQueue(limit int) *AddressQueue {
	if limit <= 0 {
		return nil
	}
	return &AddressQueue{limit: int64(limit)}
}

// Queued is what the address's connections have queued of their own and
// not yet written (an upper bound: see conn.settleOwn).
func (a *AddressQueue) Queued() int64 { return a.queued.Load() }

// take counts n more bytes, or nothing when they would cross the bound.
func (a *AddressQueue) take(n int) bool {
	if a.queued.Add(int64(n)) > a.limit {
		a.queued.Add(-int64(n))
		return false
	}
	return true
}

func (a *AddressQueue) give(n int) { a.queued.Add(-int64(n)) }

// AddressQueuer is a Receiver that names the AddressQueue of its
// connection's client address (api's, from the address's per-address
// budgets). The transport asks it for each frame of the connection's own,
// and keeps no pointer to it: an idle connection's conn stays in its
// 128-byte size class.
type AddressQueuer interface {
	AddressQueue() *AddressQueue
}

// address is the bound of c's address; nil: none, or c's receiver is not
// set yet (the frames queued while c opens, its welcome, are not
// counted). Called with c.mu held.
func (c *conn) address() *AddressQueue {
	if q, ok := c.recv.(AddressQueuer); ok {
		return q.AddressQueue()
	}
	return nil
}

// takeOwn counts n bytes of a frame of c's own in c's address's bound,
// and reports false when they would cross it. Called with c.mu held.
func (c *conn) takeOwn(q *outQueue, n int) bool {
	a := c.address()
	if a == nil {
		return true
	}
	if !a.take(n) {
		return false
	}
	q.own += int32(n)
	return true
}

// settleOwn gives back to c's address what c counted of its own beyond
// what it still has queued, after bytes left the queue (written or
// dropped). own is then an upper bound of the own bytes still queued,
// exact whenever the queue is empty, without a mark on each frame: a
// write that takes fan-out frames queued before own ones gives back
// only once the queue is shorter than own. Called with c.mu held.
func (c *conn) settleOwn(q *outQueue) {
	if q.own == 0 || int(q.own) <= q.queued {
		return
	}
	back := int(q.own) - max(q.queued, 0)
	q.own -= int32(back)
	if a := c.address(); a != nil { // own counted: it was there, and stays
		a.give(back)
	}
}
