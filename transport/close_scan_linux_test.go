//go:build linux

package transport

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/sockettest"
)

// TestAConnectionClosedForAFrameEndsOnTheClientsClose: a client sends a
// binary frame and, in the same write, a text frame of 256 KiB of "x"
// (0x78). The binary frame closes the connection with 1003; the node
// reads the write in pieces (32 KiB at most on a loop, 16 KiB on the
// portable path), so the read that brought it ends inside the text
// frame's payload, where each "xx" reads as a close header. The node
// must walk on from the binary frame and take the client's real close,
// sent once the node read all of that, as the answer to its own: not a
// header inside the payload, and not nothing.
func TestAConnectionClosedForAFrameEndsOnTheClientsClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute}) // only the client's close ends it in time
		c := dialRaw(t, ts.addr, nil)
		eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == 1 })
		s := ts.acc.all()[0]
		// A duplicate of the node's socket: its receive queue can still
		// be read should the node let the connection go early.
		node, err := unix.FcntlInt(uintptr(sockettest.Accepted(t, c.nc.RemoteAddr(), c.nc.LocalAddr())), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("duplicate the node's socket: %v", err)
		}
		client := sockettest.Accepted(t, c.nc.LocalAddr(), c.nc.RemoteAddr())
		written := make(chan error, 1)
		t.Cleanup(func() {
			c.nc.Close() // ends the write should the node read no more
			<-written
			unix.Close(node)
		})
		go func() {
			_, err := c.nc.Write(append(frame(ws.OpBinary, true, nil), xFrame(256<<10)...))
			written <- err
		}()
		if code, _ := c.closeFrame(); code != broker.CloseUnsupportedData {
			t.Fatalf("closed with %d, want %d", code, broker.CloseUnsupportedData)
		}
		select {
		case err := <-written:
			written <- err // for the cleanup
			if err != nil {
				t.Fatalf("writing the frames: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the node read no more of the frames (or the write is stuck)")
		}
		eventually(t, "the node read all that was sent, or let the connection go", func() bool {
			return s.disconnected.Load() != 0 || sockettest.Unsent(t, client) == 0 && sockettest.Unread(t, node) == 0
		})
		if s.disconnected.Load() != 0 || peerClosedOf(s.c.(*conn)) {
			t.Fatalf("the close was taken as answered before the client sent its close (connection gone: %v)", s.disconnected.Load() != 0)
		}
		c.write(frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
		eventually(t, "the connection ended on the client's close", func() bool { return s.disconnected.Load() != 0 })
	})
}
