package broker

import (
	"sync"
	"time"
)

// expiries closes connections whose token expired, with one timer for all
// of a broker's sessions, set to the earliest deadline of a heap of them.
// A time.AfterFunc per session cost an authenticated connection about 220
// bytes (the timer, its two closures, a handle and the entry of a map of
// pending timers); a place in the heap costs it 8 bytes, and its deadline
// and index 12 in its identity. The closes run as workers of the group,
// so Broker.Close waits for them; once closed, nothing expires.
type expiries struct {
	g *workerGroup

	mu     sync.Mutex
	heap   []*Session  // by who.expires, earliest first; who.slot is the place + 1
	timer  *time.Timer // runs fire at heap[0]'s deadline, or later; nil until first needed
	closed bool
}

// set makes s expire at the Unix nanosecond at, or never for 0, in place
// of what was set before. s has an identity. Called with s.mu held: the
// lock order is s.mu, then x.mu.
func (x *expiries) set(s *Session, at int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if s.who.slot != 0 {
		x.removeLocked(int(s.who.slot - 1))
	}
	if at == 0 || x.closed {
		return
	}
	s.who.expires = at
	x.heap = append(x.heap, s)
	s.who.slot = int32(len(x.heap))
	x.up(len(x.heap) - 1)
	if x.heap[0] == s {
		x.arm(at)
	}
}

// pending reports whether s has a deadline set.
func (x *expiries) pending(s *Session) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return s.who != nil && s.who.slot != 0
}

// arm sets the timer for at. Called with mu held.
func (x *expiries) arm(at int64) {
	d := time.Duration(at - time.Now().UnixNano())
	if x.timer == nil {
		x.timer = time.AfterFunc(d, x.fire)
		return
	}
	x.timer.Reset(d)
}

// fire closes the connections whose deadline passed and sets the timer
// for the next one. A fire that comes early (the timer was reset while it
// ran) only sets it again.
func (x *expiries) fire() {
	if !x.g.enter() {
		return // closing: nothing expires any more
	}
	defer x.g.done()
	now := time.Now().UnixNano()
	var due []*Session
	x.mu.Lock()
	for len(x.heap) > 0 && x.heap[0].who.expires <= now && !x.closed {
		due = append(due, x.heap[0])
		x.removeLocked(0)
	}
	if len(x.heap) > 0 && !x.closed {
		x.arm(x.heap[0].who.expires)
	}
	x.mu.Unlock()
	for _, s := range due {
		s.conn.Close(CloseTokenExpired, "token expired")
	}
}

// close stops the timer and forgets every deadline.
func (x *expiries) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	if x.timer != nil {
		x.timer.Stop()
	}
	for _, s := range x.heap {
		s.who.slot = 0
	}
	x.heap = nil
}

// removeLocked takes the session at i out of the heap.
func (x *expiries) removeLocked(i int) {
	h := x.heap
	h[i].who.slot = 0
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		h[i].who.slot = int32(i + 1)
	}
	h[last] = nil
	x.heap = h[:last]
	if i < last {
		x.down(i)
		x.up(i)
	}
}

func (x *expiries) less(i, j int) bool { return x.heap[i].who.expires < x.heap[j].who.expires }

func (x *expiries) swap(i, j int) {
	h := x.heap
	h[i], h[j] = h[j], h[i]
	h[i].who.slot, h[j].who.slot = int32(i+1), int32(j+1)
}

func (x *expiries) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !x.less(i, parent) {
			return
		}
		x.swap(i, parent)
		i = parent
	}
}

func (x *expiries) down(i int) {
	for {
		least := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(x.heap) && x.less(c, least) {
				least = c
			}
		}
		if least == i {
			return
		}
		x.swap(i, least)
		i = least
	}
}
