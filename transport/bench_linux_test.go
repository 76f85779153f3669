//go:build linux

package transport

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// BenchmarkFrameWrite flushes a connection's queued frames with one
// writev into a loopback TCP connection and reads them back on the other
// end: the kernel's cost per write is most of it, and the more frames one
// write carries the less each costs. It must not allocate.
func BenchmarkFrameWrite(b *testing.B) {
	for _, frames := range []int{1, 16} {
		b.Run(fmt.Sprintf("%dframes", frames), func(b *testing.B) {
			fds := tcpPair(b)
			l := &loop{iov: make([]unix.Iovec, 0, maxBatch)}
			lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}
			c := newConn(nopDriver{}, lim)
			c.fd, c.live = int32(fds[0]), true
			f := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 200)))
			sink := make([]byte, 64<<10)
			b.SetBytes(int64(frames * len(f)))
			b.ReportAllocs()
			for b.Loop() {
				for range frames {
					c.Send(f)
				}
				l.flush(c)
				for got := 0; got < frames*len(f); {
					n, err := unix.Read(fds[1], sink)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
			if q := c.queuedBytes(); q != 0 {
				b.Fatalf("%d bytes left queued", q)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
		})
	}
}

// tcpPair returns the non-blocking descriptors of both ends of a loopback
// TCP connection, closed when b ends.
func tcpPair(b *testing.B) [2]int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	var fds [2]int
	for i, nc := range []net.Conn{server, client} {
		if fds[i], err = dupFD(nc.(*net.TCPConn)); err != nil {
			b.Fatal(err)
		}
		fd := fds[i]
		b.Cleanup(func() { unix.Close(fd) })
	}
	return fds
}
