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
	l.mu.Unlock()
	for _, c := range pending {
		if c.live {
			l.flush(c)
		}
		// not yet registered: register flushes it
	}
	clear(pending)
	l.spare = pending
}

// flush writes c's queue with writev until it is empty or the socket is
// full; a full socket is flushed again on its EPOLLOUT edge.
func (l *loop) flush(c *conn) {
	for c.live {
		l.bufs = c.batch(l.bufs[:0], maxBatch)
		if len(l.bufs) == 0 {
			c.written(0)
			return
		}
		n, err := l.writev(int(c.fd), l.bufs)
		clear(l.bufs) // the loop keeps no frame once written
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			l.drop(c)
			return
		}
		empty, closeSent := c.written(n)
		if closeSent {
			// The close frame is out: half-close so the peer sees it, then
			// wait for its EOF (or the deadline) before closing, so unread
			// input does not turn the close into a reset.
			_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
		}
		if empty {
			return
		}
	}
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
