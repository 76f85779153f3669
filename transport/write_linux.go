//go:build linux

package transport

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

func (l *loop) flushPending() {
	l.mu.Lock()
	pending := l.pending
	l.pending = l.spare[:0] // two lists used in turn: a fan-out allocates none
	l.lag.pass.Store(l.lag.pending.Swap(0))
	l.mu.Unlock()
	var start int64
	if len(pending) > 0 {
		start = monoNow()
	}
	seen := l.probes.seen
	for _, c := range pending {
		if c.live {
			l.flush(c)
		}
		// not yet registered: register flushes it
	}
	l.probes.passed(seen)
	l.lag.pass.Store(0)
	if len(pending) > 0 {
		now := monoNow()
		l.lag.notePass(now, now-start)
		l.srv.release()
	}
	clear(pending)
	l.spare = pending
}

// flush writes c's queue with writev until it is empty or the socket is
// full; a full socket is flushed again on its EPOLLOUT edge. A write that
// carries fan-out frames may take a probe ping behind them.
func (l *loop) flush(c *conn) {
	for c.live {
		at := monoNow()
		var fanned bool
		l.bufs, fanned = c.batchFanned(l.bufs[:0], maxBatch)
		if len(l.bufs) == 0 {
			c.written(0)
			return
		}
		if fanned {
			l.probes.fanned(len(l.bufs), at, l.srv.lagCfg.tick)
			l.maybeProbe(c, at)
		}
		n, err := l.writev(int(c.fd), l.bufs)
		clear(l.bufs) // the loop keeps no frame once written
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			l.block(c)
			return
		}
		if err != nil {
			l.drop(c)
			return
		}
		if n > 0 {
			c.progress = at
		}
		empty, closeSent := c.writtenOf(n, len(l.bufs), at)
		if closeSent {
			if c.handshakeDone() && l.dropDoneOrRead(c) {
				return
			}
			// The close frame is out: half-close so the peer sees it, then
			// wait for its answer or EOF (or the deadline) before closing,
			// so unread input does not turn the close into a reset.
			_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
		}
		if empty {
			return
		}
	}
}

// pingNow writes a heartbeat ping straight to the socket of a connection
// with nothing queued, from the loop goroutine, which alone writes to it:
// it needs no write queue, and no lock is held across the write. It
// claims the connection as scheduled first, so a frame queued meanwhile
// waits for this goroutine, which flushes it after the ping; what the
// socket did not take of the ping is queued before it. False when
// something is queued or the connection closes: then the ping is queued.
func (l *loop) pingNow(c *conn) bool {
	c.mu.Lock()
	idle := !c.closing && !c.scheduled && c.queuedBytes() == 0
	if idle {
		c.scheduled = true
	}
	c.mu.Unlock()
	if !idle {
		return false
	}
	n, err := unix.Write(int(c.fd), framePing)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Write(int(c.fd), framePing)
	}
	n = max(n, 0) // an error leaves the whole ping to the queue, whose flush meets it again
	c.mu.Lock()
	if n < len(framePing) {
		// The whole ping goes first with n of it written, as any
		// half-written head frame: a slow-consumer drop then keeps it
		// whole rather than cutting the stream inside its header.
		q := c.outLocked()
		q.pushFront(framePing)
		q.offset = int32(n)
		q.queued += int32(len(framePing) - n)
		if q.own != nil {
			q.own.front(len(framePing) - n)
		}
		c.sentSince = true
	}
	more := c.queuedBytes() > 0
	if !more {
		c.scheduled = false
	} else if c.since.Load() == 0 {
		c.since.Store(monoNow())
	}
	c.mu.Unlock()
	if more {
		l.flush(c)
	}
	return true
}

// writev writes bufs with one system call; it allocates nothing.
func (l *loop) writev(fd int, bufs [][]byte) (int, error) {
	iov := l.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, nil
	}
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	clear(iov)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// block notes that c waits for room in its socket, for the lag scan.
func (l *loop) block(c *conn) {
	if !c.blocked {
		c.blocked = true
		l.blocked = append(l.blocked, c)
	}
}

// scanBlocked takes the largest lag among the connections waiting for room
// in their socket, each as of its last write that moved bytes, and forgets
// those drained or gone and those with no such write for stallAfter,
// whose reader does not keep up: they are left to their queue bound
// (lag.go). A forgotten connection is listed again when a write of its
// leaves it waiting again.
func (l *loop) scanBlocked(now int64) {
	oldest := int64(0)
	keep := l.blocked[:0]
	for _, c := range l.blocked {
		since := c.since.Load()
		if !c.live || since == 0 || now-c.progress > l.srv.lagCfg.stallAfter {
			c.blocked = false
			continue
		}
		keep = append(keep, c)
		// Stamped so that now-stamp is the age its oldest frame had when
		// the connection last moved: it does not grow while the reader
		// takes nothing, so a reader that stops does not hold publishers.
		stamp := now - max(c.progress-since, 0)
		if oldest == 0 || stamp < oldest {
			oldest = stamp
		}
	}
	clear(l.blocked[len(keep):])
	l.blocked = keep
	l.lag.blocked.Store(oldest)
}

// lagging says whether the loop has lag to scan for: connections waiting
// for room in their socket, or probes out or lately answered.
func (l *loop) lagging() bool { return len(l.blocked) > 0 || l.probes.active() }

// lagTick is the loop's lag work of every tick (an eighth of the bound)
// while it has lag to scan for: the waiting connections' lag, the
// readers', and the publishers they may now release.
func (l *loop) lagTick(now int64) {
	l.scanBlocked(now)
	l.estimateReaders(now)
	l.srv.release()
}

// estimateReaders stamps the loop's reader lag (probe_linux.go) so that
// now minus the stamp is the lag.
func (l *loop) estimateReaders(now int64) {
	ls := &l.srv.lagCfg
	l.reprobe(now)
	lag := l.probes.estimate(now, probeWatch*ls.bound, ls.stallAfter)
	if lag == 0 {
		l.lag.readers.Store(0)
		return
	}
	l.lag.readers.Store(now - lag)
}
