package transport

// AddressReads bounds the read buffers that the connections of one client
// address make the node keep between reads (docs/protocol.md section 6):
// a frame whose bytes came in part, a fragmented message's payload so far,
// frames the connection's pace holds back unparsed. A connection's reader
// keeps nothing between whole frames, and a frame read whole in one read
// costs no count; but a connection that sends a frame header announcing
// up to twice MaxMessageBytes and all but a few bytes of it made the node
// hold 139 KB for it until the heartbeat timeout (50 s): some 140 MB for
// an address's 1,000 connections. Past the bound the connection whose
// reader would cross it is closed with 1008 and what it held goes at once.
//
// One AddressReads is shared by every connection of its address, on any
// goroutine; api/limits keeps it with the address's other budgets, and
// each connection's receiver names it (AddressReader).
type AddressReads struct{ addressBytes }

// NewAddressReads is the bound of one address, limit bytes; nil (no
// bound) for a limit of 0 or less.
func NewAddressReads(limit int) *AddressReads {
	if limit <= 0 {
		return nil
	}
	return &AddressReads{addressBytes{limit: int64(limit)}}
}

// Held is what the address's connections' readers keep between reads,
// counted as the capacity of their buffers.
func (a *AddressReads) Held() int64 { return a.held.Load() }

// AddressReader is a Receiver that names the AddressReads of its
// connection's client address (api's, from the address's per-address
// budgets). The transport asks it only when a reader keeps or lets go of
// a buffer between reads, and keeps no pointer to it.
type AddressReader interface {
	AddressReads() *AddressReads
}

// addressReads is the bound of c's address; nil: none. Only the reading
// goroutine may ask: c.recv is set before its first read.
func (c *conn) addressReads() *AddressReads {
	if a, ok := c.recv.(AddressReader); ok {
		return a.AddressReads()
	}
	return nil
}

// holds is what r keeps between reads, its buffers' capacity.
func (r *frameReader) holds() int { return cap(r.partial) + cap(r.message) }

// settleReads brings what r counted in c's address's AddressReads to what
// it holds now. False: what it holds more would take the address past
// its bound, and nothing more was counted. A reader that keeps nothing,
// as after every whole frame, counted nothing and asks no one. Only the
// reading goroutine may call it.
func (c *conn) settleReads(r *frameReader) bool {
	more := r.holds() - r.addressHeld
	if more == 0 {
		return true
	}
	a := c.addressReads()
	switch {
	case a == nil:
		return true // nothing counted, ever
	case more < 0:
		a.give(-more)
	case !a.take(more):
		return false
	}
	r.addressHeld += more
	return true
}

// letReaderGo frees c's reader, giving back what it counted, as c ends.
// Only the reading goroutine may call it.
func (c *conn) letReaderGo() {
	if c.in == nil {
		return
	}
	if n := c.in.addressHeld; n > 0 {
		if a := c.addressReads(); a != nil {
			a.give(n)
		}
	}
	c.in = nil
}
