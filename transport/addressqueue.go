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
type AddressQueue struct{ addressBytes }

// NewAddressQueue is the bound of one address, limit bytes; nil (no
// bound) for a limit of 0 or less.
func NewAddressQueue(limit int) *AddressQueue {
	if limit <= 0 {
		return nil
	}
	return &AddressQueue{addressBytes{limit: int64(limit)}}
}

// Queued is what the address's connections have queued of their own and
// not yet written.
func (a *AddressQueue) Queued() int64 { return a.held.Load() }

// Hold counts n bytes that a connection of the address holds of its own
// before they are queued (a resume's history, read ahead: broker's
// AddressHolder), at most the whole bound, so that one connection alone
// always fits, and returns what it counted; nothing and false when that
// would cross the bound. Release gives them back. A nil AddressQueue
// holds anything, counting nothing.
func (a *AddressQueue) Hold(n int) (int, bool) {
	if a == nil {
		return 0, true
	}
	n = min(n, int(a.limit))
	return n, a.take(n)
}

// Release gives back n bytes Hold counted.
func (a *AddressQueue) Release(n int) {
	if a != nil {
		a.give(n)
	}
}

// addressBytes counts bytes that the connections of one address hold
// together, on any goroutine, under a limit: an AddressQueue's or an
// AddressReads'.
type addressBytes struct {
	limit int64
	held  atomic.Int64
}

// take counts n more bytes, or nothing when they would cross the limit.
// Bytes refused are never counted, not even for a moment: added and
// taken back, they refused the bytes of the address's other connections
// meanwhile, that fit.
func (a *addressBytes) take(n int) bool {
	for {
		held := a.held.Load()
		if held+int64(n) > a.limit {
			return false
		}
		if a.held.CompareAndSwap(held, held+int64(n)) {
			return true
		}
	}
}

func (a *addressBytes) give(n int) { a.held.Add(-int64(n)) }

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

// takeOwn counts n bytes of a frame of c's own, about to be queued at
// the tail of q, in c's address's bound, and reports false when they
// would cross it. Called with c.mu held.
func (c *conn) takeOwn(q *outQueue, n int) bool {
	a := c.address()
	if a == nil || n == 0 {
		return true
	}
	if !a.take(n) {
		return false
	}
	if q.own == nil {
		q.own = newOwnBytes()
	}
	q.own.add(int(q.queued), n)
	return true
}

// ownWritten gives back to c's address the own bytes among the n that
// left the head of q. Called with c.mu held.
func (c *conn) ownWritten(q *outQueue, n int) {
	if q.own != nil {
		c.giveOwn(q.own.written(n))
	}
}

// ownKept gives back to c's address the own bytes of q past its first n,
// which were dropped. Called with c.mu held.
func (c *conn) ownKept(q *outQueue, n int) {
	if q.own != nil {
		c.giveOwn(q.own.keep(n))
	}
}

func (c *conn) giveOwn(n int) {
	if n == 0 {
		return
	}
	if a := c.address(); a != nil { // own counted: it was there, and stays
		a.give(n)
	}
}
