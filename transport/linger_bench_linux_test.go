//go:build linux

package transport

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkLingering is one loop's work while n connections whose close
// is complete linger until their close deadline (3.75 s with the default
// CloseTimeout), their clients reading nothing more: their closes came
// over spread, 100 ms as at a node's shutdown or a load balancer's
// drain, or over the whole deadline as when clients come and go. The
// loop looks at them once a turn when one is due, a turn lasting every
// (an idle loop's is at least a millisecond, its epoll wait's unit; a
// busy one's much less). All share one socket that holds what its peer
// has not read, so each look reads and asks the kernel as a real one
// does, and none ends.
func BenchmarkLingering(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, sc := range []struct{ spread, every time.Duration }{
			{100 * time.Millisecond, time.Millisecond},
			{3750 * time.Millisecond, time.Millisecond},
			{100 * time.Millisecond, 50 * time.Microsecond},
		} {
			b.Run(fmt.Sprintf("%dconns/over%v/every%v", n, sc.spread, sc.every), func(b *testing.B) {
				benchmarkLingering(b, n, int64(sc.spread), int64(sc.every))
			})
		}
	}
}

func benchmarkLingering(b *testing.B, n int, spread, every int64) {
	fds := tcpPair(b)
	if err := unix.SetNonblock(fds[0], true); err != nil {
		b.Fatal(err)
	}
	fill := bytes.Repeat([]byte("m"), 64<<10)
	for {
		if _, err := unix.Write(fds[0], fill); err != nil {
			break // full: its peer reads nothing
		}
	}
	lim := &limits{heartbeat: 25 * time.Second, closeTimeout: DefaultCloseTimeout, fragments: DefaultFragmentTimeout}
	conns := make([]*conn, n)
	for i := range conns {
		conns[i] = newConn(nopDriver{}, lim)
		conns[i].fd, conns[i].live = int32(fds[0]), true
	}
	deadline := int64(lim.closeTimeout) * 3 / 4
	for b.Loop() {
		l := &loop{srv: &Server{lim: lim}, buf: make([]byte, readBufferSize)}
		for i, c := range conns {
			l.linger(c, int64(i)*spread/int64(n))
		}
		for now := l.nextLinger; now < deadline; now = max(l.nextLinger, now+every) {
			l.checkLingering(now)
		}
		if len(l.lingering) != n {
			b.Fatalf("%d of %d connections lingered on", len(l.lingering), n)
		}
	}
}
