package memory

import "github.com/herald-broker/herald/broker"

// ring keeps a topic's last messages, which carry consecutive seqs ending
// at the topic's seq. It grows up to its capacity on demand, so a topic that
// got few messages holds little, then wraps.
type ring struct {
	buf   []*broker.Message
	start int // index of the oldest message once buf is full; 0 before
}

// push appends m, dropping the oldest message when the ring holds capacity.
func (r *ring) push(m *broker.Message, capacity int) {
	switch {
	case capacity == 0:
		return
	case len(r.buf) < capacity:
		r.buf = append(r.buf, m)
	default:
		r.buf[r.start] = m
		r.start = (r.start + 1) % len(r.buf)
	}
}

// reset drops every message and frees the buffer.
func (r *ring) reset() { *r = ring{} }

// after returns the oldest limit messages with seq > since (all of them
// when limit <= 0), where last is the seq of the newest message, in a slice
// of their own: nil when there are none.
func (r *ring) after(last, since uint64, limit int) []*broker.Message {
	n := uint64(len(r.buf))
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
	from := (uint64(r.start) + first - oldest) % n
	out := make([]*broker.Message, count)
	copied := copy(out, r.buf[from:])
	copy(out[copied:], r.buf)
	return out
}
