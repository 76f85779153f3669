package memory

import "github.com/herald-broker/herald/broker"

// ring keeps a topic's last messages, which carry consecutive seqs ending
// at the topic's seq. It grows up to its capacity on demand, so a topic that
// got few messages holds little, then wraps. The oldest messages can also
// be dropped early, when memory runs short.
type ring struct {
	buf   []*broker.Message
	start int // index of the oldest message
	n     int // messages held, from start on, wrapping
}

// push appends m and returns the message it dropped to make room (the
// oldest, once the ring holds capacity), or m itself when capacity is 0.
func (r *ring) push(m *broker.Message, capacity int) (dropped *broker.Message) {
	switch {
	case capacity == 0:
		return m
	case r.n < len(r.buf):
		r.buf[(r.start+r.n)%len(r.buf)] = m
		r.n++
	case len(r.buf) < capacity:
		r.grow(m)
	default:
		dropped = r.buf[r.start]
		r.buf[r.start] = m
		r.start = (r.start + 1) % len(r.buf)
	}
	return dropped
}

// grow appends m to a full buffer below capacity, first putting the
// messages in order when early drops moved the oldest off index 0.
func (r *ring) grow(m *broker.Message) {
	if r.start != 0 {
		ordered := make([]*broker.Message, r.n, r.n+1)
		c := copy(ordered, r.buf[r.start:])
		copy(ordered[c:], r.buf[:r.start])
		r.buf, r.start = ordered, 0
	}
	r.buf = append(r.buf, m)
	r.n++
}

// dropOldest removes and returns the oldest message, nil when empty.
func (r *ring) dropOldest() *broker.Message {
	if r.n == 0 {
		return nil
	}
	m := r.buf[r.start]
	r.buf[r.start] = nil
	r.start = (r.start + 1) % len(r.buf)
	r.n--
	return m
}

// reset drops every message and frees the buffer.
func (r *ring) reset() { *r = ring{} }

// after returns the oldest limit messages with seq > since (all of them
// when limit <= 0), where last is the seq of the newest message, in a slice
// of their own: nil when there are none.
func (r *ring) after(last, since uint64, limit int) []*broker.Message {
	n := uint64(r.n)
	if n == 0 || since >= last {
		return nil
	}
	oldest := last - n + 1
	first := max(since+1, oldest)
	count := last - first + 1
	if limit > 0 && count > uint64(limit) {
		count = uint64(limit)
	}
	// The messages asked for are one run of buf, or two when they wrap.
	from := (uint64(r.start) + first - oldest) % uint64(len(r.buf))
	out := make([]*broker.Message, count)
	copied := copy(out, r.buf[from:])
	copy(out[copied:], r.buf)
	return out
}
