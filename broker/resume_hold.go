package broker

// AddressHolder is an AddressPacer whose address bounds the bytes its
// connections hold of their own (docs/protocol.md section 6,
// HERALD_MAX_QUEUE_BYTES_PER_IP; api/limits's, through transport's
// AddressQueue). A resume holds there what it may read before it reads
// it, until its history is queued, where the queue counts it: read and
// held before, outside that bound, one address opening 1,000 SSE streams
// of 32 topics with a Last-Event-ID at once made a node on Redis hold
// 548 MB of heap.
type AddressHolder interface {
	// HoldBytes counts n bytes more, at most the whole bound (one
	// connection alone always fits), and returns what it counted; nothing
	// and false when that would take the address past its bound.
	HoldBytes(n int) (int, bool)
	// ReleaseBytes gives back n bytes HoldBytes counted.
	ReleaseBytes(n int)
}

// resumeHold is what the resumes of one request (resumeSends) hold of
// their address's bound: taken before the first read, as much as they
// may read, brought down to what they kept once read, and given back as
// the history is queued or dropped.
type resumeHold struct {
	h     AddressHolder // nil: the address has no bound
	held  int
	taken bool
	// refused: the address's bound could not hold the request's reads,
	// and nothing was read.
	refused bool
}

// holdFor returns the hold of a request of s's address.
func (s *Session) holdFor() resumeHold {
	h, _ := s.pacer.(AddressHolder)
	return resumeHold{h: h}
}

// errResumeHeld refuses a resume its address's bound cannot hold.
func errResumeHeld() *Error {
	return Errorf(CodeRateLimited, "too much history held for this address; try again")
}

// take holds n bytes, once: the request's first read takes what all of
// its reads may hold.
func (r *resumeHold) take(n int) bool {
	if r.h == nil || r.taken || n <= 0 {
		return true
	}
	held, ok := r.h.HoldBytes(n)
	if !ok {
		r.refused = true
		return false
	}
	r.held, r.taken = held, true
	return true
}

// keep brings what is held down to n bytes, when it is more.
func (r *resumeHold) keep(n int) {
	if r.h != nil && r.held > n {
		r.h.ReleaseBytes(r.held - max(n, 0))
		r.held = max(n, 0)
	}
}

// letGo gives back all that is held; the history is about to be queued
// (where the address's queue counts it) or dropped.
func (r *resumeHold) letGo() { r.keep(0) }

// holdRead holds, before a read, what the request's resumes may keep in
// all beside what was queued, and one message more (an engine's read
// stops after the message that passes its budget), maxMessage bytes of
// data; false when the address's bound cannot hold it: nothing is read.
func (r *resumeSends) holdRead(maxMessage int) bool {
	if r == nil || r.limit <= 0 {
		return true
	}
	return r.hold.take(max(0, r.limit-r.queued-r.sent) + maxMessage + messageFrameBytes + r.idBytes)
}

// keepHeld brings what r holds down to what its resumes kept, once every
// read is done.
func (r *resumeSends) keepHeld() {
	if r != nil {
		r.hold.keep(r.sent)
	}
}

// letGoBytes gives back n bytes of what r holds, at most all: a frame of
// its history is about to be queued.
func (r *resumeSends) letGoBytes(n int) {
	if r != nil {
		r.hold.keep(r.hold.held - n)
	}
}

// letGo gives back what r holds: its history was queued or dropped.
func (r *resumeSends) letGo() {
	if r != nil {
		r.hold.letGo()
	}
}
