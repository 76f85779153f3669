package transport

import (
	"bytes"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Peers that hold the server back if they can: a reader slower than its
// fan-out, one that never reads, and connections that stall in the middle
// of a frame. Each costs only itself.

// TestSlowReaderIsClosedWhileFastReaderGetsAll fans frames out to a client
// that never reads and one that does.
func TestSlowReaderIsClosedWhileFastReaderGetsAll(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxQueueBytes: 64 << 10})
		slow := dialSmallBuffer(t, ts.addr)
		eventually(t, "slow opened", func() bool { return len(ts.acc.all()) == 1 })
		fast := dialRaw(t, ts.addr, nil)
		eventually(t, "fast opened", func() bool { return len(ts.acc.all()) == 2 })
		sessions := ts.acc.all()
		// A batch is a quarter of the queue bound: the fast reader may have read
		// a batch before the server counted it written.
		const batches, perBatch = 600, 16 // 10 MB: more than loopback buffers hold
		payload := bytes.Repeat([]byte("m"), 1000)
		slowRefused := false
		for b, extra := 0, 0; b < batches && extra < 20; b++ {
			if slowRefused {
				extra++ // a few more batches after the overflow, then enough
			}
			for i := 0; i < perBatch; i++ {
				f := ws.MustCompileFrame(ws.NewTextFrame(payload)) // one shared frame per message
				for _, s := range sessions {
					ok := s.c.Send(f)
					if s.c != sessions[0].c && !ok {
						t.Fatalf("Send to the fast reader refused at batch %d", b)
					}
					if s.c == sessions[0].c && !ok {
						slowRefused = true
					}
				}
			}
			for i := 0; i < perBatch; i++ {
				if got := fast.text(); len(got) != len(payload) {
					t.Fatalf("fast reader got %d bytes", len(got))
				}
			}
		}
		if !slowRefused {
			t.Fatal("the slow reader's queue never overflowed")
		}
		// The slow reader now reads: it finds the 4000 close frame, or a
		// socket the server already closed.
		for {
			f, err := slow.next()
			if err != nil {
				break
			}
			if f.Header.OpCode == ws.OpClose {
				if code := ws.StatusCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1])); code != 4000 {
					t.Fatalf("slow reader closed with %d, want 4000", code)
				}
				break
			}
		}
		slow.nc.Close()
		eventually(t, "slow reader disconnected", func() bool { return sessions[0].disconnected.Load() == 1 })
	})
}

func TestReaderThatNeverReadsIsDroppedWithinCloseTimeout(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxQueueBytes: 16 << 10, CloseTimeout: 100 * time.Millisecond})
		_ = dialSmallBuffer(t, ts.addr) // never reads, never closes
		eventually(t, "session opened", func() bool { return len(ts.acc.all()) == 1 })
		s := ts.acc.all()[0]
		f := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 1000)))
		eventually(t, "queue overflowed", func() bool {
			for i := 0; i < 1000; i++ {
				if !s.c.Send(f) {
					return true
				}
			}
			return false
		})
		eventually(t, "socket dropped", func() bool { return s.disconnected.Load() == 1 })
		if n := ts.srv.Connections(); n != 0 {
			t.Fatalf("Connections() = %d", n)
		}
	})
}

// dialSmallBuffer upgrades a client whose receive buffer is tiny, so the
// server's queue for it fills quickly.
func dialSmallBuffer(t *testing.T, addr string) *rawClient {
	return dialRawWith(t, smallBufferDialer(), addr, nil)
}

// smallBufferDialer dials sockets with a 4 KiB receive buffer (left to
// the system off Unix).
func smallBufferDialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = setRcvbuf(fd, 4096) })
	}}
}

func TestStalledHalfFramesDoNotBlockOthers(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		half := frame(ws.OpText, true, bytes.Repeat([]byte("s"), 100))[:50]
		for i := 0; i < 200; i++ {
			c := dialRaw(t, ts.addr, nil)
			c.write(half)
		}
		eventually(t, "stalled connections opened", func() bool { return ts.srv.Connections() == 200 })
		c := dialRaw(t, ts.addr, nil)
		for i := 0; i < 10; i++ {
			c.write(frame(ws.OpText, true, []byte("served")))
			if got := c.text(); got != "served" {
				t.Fatalf("got %q", got)
			}
		}
		if n := ts.srv.Connections(); n != 201 {
			t.Fatalf("Connections() = %d, want 201 (the stalled ones stay open)", n)
		}
	})
}
