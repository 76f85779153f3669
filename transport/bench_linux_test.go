//go:build linux

package transport

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// BenchmarkFrameWrite flushes 16 queued frames with one writev, into
// /dev/null so the kernel side costs next to nothing. It must not allocate.
func BenchmarkFrameWrite(b *testing.B) {
	fd, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	l := &loop{iov: make([]unix.Iovec, 0, maxIovecs)}
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}
	c := newConn(nopDriver{}, lim)
	c.fd, c.live = int32(fd), true
	f := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 200)))
	b.SetBytes(int64(16 * len(f)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < 16; i++ {
			c.Send(f)
		}
		l.flush(c)
	}
	if c.queued != 0 {
		b.Fatalf("%d bytes left queued", c.queued)
	}
}
