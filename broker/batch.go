package broker

// DeferredConn is a Conn that can queue a frame without starting its write
// at once. Fan-out queues a message on every subscriber first and then
// starts each writer once, so that one pass of a writer carries the whole
// fan-out (and the next ones, when they come close together) instead of
// racing it one connection at a time, a write per frame.
type DeferredConn interface {
	Conn
	// SendDeferred queues frame as Send does. When the write still has to
	// be started it returns the Flusher that starts it; the caller calls
	// Flush once it has queued everything of its batch, at once: no timer
	// does it instead.
	SendDeferred(frame []byte) (ok bool, f Flusher)
}

// Flusher starts the writes that SendDeferred queued. Values are
// comparable, so that a batch calls each one once: a transport has a few
// (one per event loop), not one per connection.
type Flusher interface {
	Flush()
}

// flushers are the distinct Flushers one fan-out collected.
type flushers []Flusher

// send queues frame on c, deferring the start of its write when c allows.
func (fl *flushers) send(c Conn, frame []byte) bool {
	dc, ok := c.(DeferredConn)
	if !ok {
		return c.Send(frame)
	}
	sent, f := dc.SendDeferred(frame)
	if f != nil {
		fl.add(f)
	}
	return sent
}

func (fl *flushers) add(f Flusher) {
	for _, have := range *fl {
		if have == f {
			return
		}
	}
	*fl = append(*fl, f)
}

// flush starts every deferred write and empties the list for reuse.
func (fl *flushers) flush() {
	for _, f := range *fl {
		f.Flush()
	}
	clear(*fl)
	*fl = (*fl)[:0]
}
