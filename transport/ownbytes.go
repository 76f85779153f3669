package transport

// ownBytes is where a connection's own bytes (those its address's
// AddressQueue counts) lie in its queue: runs of them, each after a gap
// of other bytes (a fan-out's, the transport's), from the queue's head.
// A write gives back exactly the own bytes it took, so that a fan-out
// queued behind a reply does not keep the written reply counted: where
// the count was settled against the queue's length alone, a connection
// of a busy topic kept its written replies counted for as long as a
// spike's backlog stayed behind them, and closed the other connections
// of its address. Guarded by the connection's mu.
type ownBytes struct {
	runs []ownRun
	span int // bytes from the queue's head to the end of the last run
	// first is runs' array while it holds at most two: a reply alone,
	// or with a pong, costs one allocation.
	first [2]ownRun
}

func newOwnBytes() *ownBytes {
	o := new(ownBytes)
	o.runs = o.first[:0]
	return o
}

// ownRun is n own bytes after gap bytes that are not.
type ownRun struct{ gap, n int32 }

// add records n own bytes queued behind queued bytes.
func (o *ownBytes) add(queued, n int) {
	if gap := queued - o.span; gap == 0 && len(o.runs) > 0 {
		o.runs[len(o.runs)-1].n += int32(n)
	} else {
		o.runs = append(o.runs, ownRun{gap: int32(gap), n: int32(n)})
	}
	o.span = queued + n
}

// front records n bytes, not own, put before the queued ones.
func (o *ownBytes) front(n int) {
	if len(o.runs) > 0 {
		o.runs[0].gap += int32(n)
		o.span += n
	}
}

// written takes n bytes written from the head and returns the own bytes
// among them.
func (o *ownBytes) written(n int) (own int) {
	done := 0
	for done < len(o.runs) && n > 0 {
		r := &o.runs[done]
		skip := min(n, int(r.gap))
		r.gap -= int32(skip)
		n -= skip
		took := min(n, int(r.n))
		r.n -= int32(took)
		n -= took
		own += took
		o.span -= skip + took
		if r.gap == 0 && r.n == 0 {
			done++
		}
	}
	o.pop(done)
	return own
}

// keep drops what lies past the first n bytes of the queue and returns
// the own bytes dropped.
func (o *ownBytes) keep(n int) (own int) {
	at := 0
	for i := range o.runs {
		r := &o.runs[i]
		if end := at + int(r.gap); end >= n {
			for _, d := range o.runs[i:] {
				own += int(d.n)
			}
			o.runs, o.span = o.runs[:i], at
			return own
		}
		at += int(r.gap)
		if end := at + int(r.n); end > n {
			own += end - n
			r.n = int32(n - at)
			for _, d := range o.runs[i+1:] {
				own += int(d.n)
			}
			o.runs, o.span = o.runs[:i+1], n
			return own
		}
		at += int(r.n)
	}
	return 0
}

// pop forgets the first k runs, written.
func (o *ownBytes) pop(k int) {
	if k == 0 {
		return
	}
	left := copy(o.runs, o.runs[k:])
	o.runs = o.runs[:left]
	if left == 0 {
		o.span = 0
	}
}
