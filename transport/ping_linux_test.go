//go:build linux

package transport

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// pingPair is a connection on a bare loop over one end of a socket pair,
// and the other end.
func pingPair(t *testing.T) (*loop, *conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	l := &loop{srv: &Server{}} // lag settings off: no probes
	c := newConn(l, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1 << 40, stats: new(counters)})
	c.fd, c.live = int32(fds[0]), true
	return l, c, fds[1]
}

// A heartbeat ping to an idle connection on the epoll path is written at
// once: it allocates nothing and leaves the connection without a queue.
func TestPingOfAnIdleConnectionAllocatesNothing(t *testing.T) {
	_, c, peer := pingPair(t)
	buf := make([]byte, 16)
	allocs := testing.AllocsPerRun(100, func() {
		c.ping()
		if n, err := unix.Read(peer, buf); err != nil || !bytes.Equal(buf[:n], framePing) {
			t.Fatalf("peer read %q, %v; want a ping", buf[:max(n, 0)], err)
		}
	})
	if allocs != 0 || c.out != nil {
		t.Fatalf("%v allocations per ping, queue %v; want none", allocs, c.out)
	}
}

// A ping the socket cannot take is queued, ahead of nothing, and waits
// for room like any frame.
func TestPingOfAFullSocketIsQueued(t *testing.T) {
	l, c, _ := pingPair(t)
	fill := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(int(c.fd), fill); err != nil {
			break // EAGAIN: the socket is full
		}
	}
	c.ping()
	c.mu.Lock()
	queued := c.queuedBytes()
	c.mu.Unlock()
	if queued != len(framePing) || !c.blocked || len(l.blocked) != 1 {
		t.Fatalf("%d bytes queued, blocked %v; want the ping queued and waiting for room", queued, c.blocked)
	}
}

// A flush of an idle connection (a writable edge, or a pong that came in)
// finds nothing to write and allocates nothing.
func TestFlushOfAnIdleConnectionAllocatesNothing(t *testing.T) {
	l, c, _ := pingPair(t)
	if allocs := testing.AllocsPerRun(100, func() { l.flush(c) }); allocs != 0 || c.out != nil {
		t.Fatalf("%v allocations per flush, queue %v; want none", allocs, c.out)
	}
}
