//go:build linux

package transport

import (
	"errors"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The loop's table of connections: a slot each, reused, and a generation
// that tells an event for the slot's old connection from its new one.

func (l *loop) lookup(slot int32, gen uint32) *conn {
	if slot < 0 || int(slot) >= len(l.conns) {
		return nil
	}
	if c := l.conns[slot]; c != nil && c.gen == gen {
		return c
	}
	return nil // a stale event for a slot now reused
}

// register adds the connections api opened since the last turn.
func (l *loop) register() {
	l.mu.Lock()
	incoming, early := l.incoming, l.early
	l.incoming, l.early = nil, nil
	stopping := l.stopping
	l.mu.Unlock()
	for i, c := range incoming {
		l.insert(c)
		if stopping {
			c.fail(ErrServerClosed)
		}
		if len(early) > 0 {
			l.readEarly(c, early[i])
		}
		if err := l.poller.Add(int(c.fd), c.slot, c.gen); err != nil {
			l.log.Error("register connection", zap.Error(err))
			l.drop(c)
			continue
		}
		l.flush(c) // anything Open queued before the loop knew c
	}
}

func (l *loop) insert(c *conn) {
	if n := len(l.free); n > 0 {
		c.slot = l.free[n-1]
		l.free = l.free[:n-1]
		l.conns[c.slot] = c
	} else {
		c.slot = int32(len(l.conns))
		l.conns = append(l.conns, c)
	}
	l.gen++
	if l.gen == 0 {
		l.gen = 1 // 0 is the poller's own
	}
	c.gen = l.gen
	c.live = true
	l.load.Add(1)
}

// drop closes c's socket and tells its receiver, once. The loop keeps
// nothing of c: not its half-read message (up to twice MaxMessageBytes,
// which Server.gone lets go), nor its read state and unanswered probes,
// which would keep it whole until the loop is busy again.
func (l *loop) drop(c *conn) {
	if !c.live {
		return
	}
	c.live = false
	l.probes.forget(c)
	delete(l.readers, c)
	delete(l.lingering, c)
	l.conns[c.slot] = nil
	l.free = append(l.free, c.slot)
	l.load.Add(-1)
	if err := unix.Close(int(c.fd)); err != nil {
		l.log.Debug("close socket", zap.Error(err))
	}
	l.srv.gone(c)
}

// dropDone drops c once its close is complete (handshakeDone): its close
// frame or event is written and nothing more is waited for. What its
// client sent meanwhile, a stream's stray input say, is read first, so
// that closing over unread input does not reset the connection and cost
// the client the end of what it was sent; a client still sending more
// than a read buffer holds is not dropped (false): it is left to the
// half-close, as before its answer, to end or to time out. Nor is one
// whose socket still holds some of what was written to it (false): a
// client that reads slowly has not yet read it, and a byte it sends
// once the socket is closed (a pong, which RFC 6455 section 5.5.2 has it
// send until it reads the close frame) would make the kernel reset the
// connection and throw the rest away. It stays half-closed, and is
// dropped once its socket is drained (linger), at its client's EOF, or
// at its close deadline.
func (l *loop) dropDone(c *conn) bool {
	for got := 0; ; {
		n, err := unix.Read(int(c.fd), l.buf)
		switch {
		case n > 0:
			if got += n; got >= len(l.buf) {
				return false
			}
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN) && !sendQueueEmpty(int(c.fd)):
			l.linger(c, monoNow())
			return false
		default: // drained (EAGAIN), or the peer is gone
			l.drop(c)
			return true
		}
	}
}
