package limits

import (
	"io"
	"net"
	"sync"
	"time"
)

// A connection refused at accept is answered on a drain, not in Accept,
// so that the answer reaches an HTTP client as an answer:
//   - the refusal is written once the request has begun to arrive: an
//     answer that comes before the client has sent anything is, to Go's
//     http.Transport among others, an unsolicited response on an idle
//     connection, and the request fails;
//   - then the socket is half-closed and what the client sent is read and
//     dropped until it closes its side: closing a socket with unread
//     bytes makes the kernel send a reset (RFC 1122 4.2.2.13), which can
//     reach the client before it has read the refusal.
//
// All of it within these bounds; when maxDrains refusals are under way
// already, the refusal is written and the socket closed at once.
const (
	// drainTimeout is how long a refused peer has to close its side after
	// reading the refusal: a round trip, with room.
	drainTimeout = time.Second
	// drainBytes is how much of a refused peer's request is read: the
	// request line and headers of any ordinary client.
	drainBytes = 64 << 10
	// maxDrains bounds the refused connections drained at once, each a
	// goroutine and a descriptor for at most drainTimeout, so that a flood
	// of refused connections costs at most this many.
	maxDrains = 64
)

// drains owns the goroutines that answer refused connections: at most
// maxDrains at once, each ended by drainTimeout or by stop.
type drains struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{} // draining now; never more than maxDrains
	stopped bool
	wg      sync.WaitGroup
}

// start answers c with refusal on a goroutine of its own, as said above,
// then closes it and calls done; false, with nothing done, when maxDrains
// are under way already or the drains were stopped.
func (d *drains) start(c net.Conn, refusal []byte, done func()) bool {
	d.mu.Lock()
	if d.stopped || len(d.conns) >= maxDrains {
		d.mu.Unlock()
		return false
	}
	if d.conns == nil {
		d.conns = make(map[net.Conn]struct{}, maxDrains)
	}
	d.conns[c] = struct{}{}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		answerAndDrain(c, refusal)
		_ = c.Close()
		done()
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
	}()
	return true
}

// answerAndDrain waits for the first bytes of c's request, writes
// refusal, half-closes c and reads what its peer sends until the peer
// closes, drainBytes were read or drainTimeout passed. A peer that sends
// nothing in drainTimeout gets the refusal then; one that closed first
// gets nothing.
func answerAndDrain(c net.Conn, refusal []byte) {
	_ = c.SetReadDeadline(time.Now().Add(drainTimeout))
	var first [512]byte
	n, err := c.Read(first[:])
	if n == 0 && err == io.EOF {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	if _, err := c.Write(refusal); err != nil {
		return // the peer is gone
	}
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite() // the refusal is all the peer gets
	}
	// Ends at EOF, the cap, the deadline or stop.
	_, _ = io.CopyN(io.Discard, c, drainBytes-int64(n))
}

// stop ends the drains under way at once and waits for their goroutines;
// later starts refuse.
func (d *drains) stop() {
	d.mu.Lock()
	d.stopped = true
	for c := range d.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// draining is how many refused connections are being drained.
func (d *drains) draining() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}
