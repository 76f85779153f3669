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
// the client the end of what it was sent. Each read counts toward what a
// closing connection may be read (closingReadBytes): a client that sent
// its close frame and goes on sending past that once the close is
// complete is dropped then, unread input or not (here or in take); any
// other read past it (a stream closed for its input, whose client does
// not know yet) is read no more and ends as below.
// A look reads a read buffer's worth at most, so that one client does
// not hold the loop: with more to read c is not dropped (more), and its
// caller has it read again on a later turn (the socket, edge-triggered,
// will not say so again). Nor is one whose socket still holds some of
// what was written to it (false): a client that reads slowly has not yet
// read it, and a byte it sends once the socket is closed (a pong, which
// RFC 6455 section 5.5.2 has it send until it reads the close frame)
// would make the kernel reset the connection and throw the rest away. It
// stays half-closed, and is dropped once its socket is drained (linger),
// at its client's EOF, or at its close deadline.
func (l *loop) dropDone(c *conn) (dropped, more bool) {
	for got := 0; ; {
		n, err := 0, error(unix.EAGAIN) // read no more (closingReadBytes)
		if !c.closingReadSpent() {
			n, err = unix.Read(int(c.fd), l.buf)
		}
		switch {
		case n > 0:
			c.readData(l.buf[:n], 0)                      // counted, and walked past
			if c.closingReadSpent() && c.clientClosed() { // it closed, and sends on
				l.drop(c)
				return true, false
			}
			if got += n; got >= len(l.buf) {
				l.linger(c, monoNow())
				return false, true
			}
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN) && !sendQueueEmpty(int(c.fd)):
			l.linger(c, monoNow())
			return false, false
		default: // drained (EAGAIN), or the peer is gone
			l.drop(c)
			return true, false
		}
	}
}

// dropDoneOrRead is dropDone for a caller outside a read of c: c, left
// with more to read, is read again on the next turn.
func (l *loop) dropDoneOrRead(c *conn) (dropped bool) {
	dropped, more := l.dropDone(c)
	if rd := l.readers[c]; more && !rd.waiting {
		l.wait(c, rd, 0)
	}
	return dropped
}
