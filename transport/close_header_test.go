package transport

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// badCloseHeaders are close frames whose header RFC 6455 does not allow a
// client (sections 5.1, 5.2, 5.5), and an unmasked frame that is no close:
// after any of them what the client sends can no longer be told apart into
// frames, so no close of its can be seen.
func badCloseHeaders() []struct {
	name  string
	frame []byte
} {
	body := closeBody(ws.StatusNormalClosure, "")
	masked := func(h ws.Header, payload []byte) []byte {
		h.Masked, h.Mask, h.Length = true, [4]byte{1, 2, 3, 4}, int64(len(payload))
		return rawFrame(h, payload)
	}
	return []struct {
		name  string
		frame []byte
	}{
		{"fragmented close", masked(ws.Header{OpCode: ws.OpClose}, body)},
		{"close with RSV1", masked(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpClose}, body)},
		{"close with RSV3", masked(ws.Header{Fin: true, Rsv: ws.Rsv(false, false, true), OpCode: ws.OpClose}, body)},
		{"close over 125 bytes", masked(ws.Header{Fin: true, OpCode: ws.OpClose}, closeBody(ws.StatusNormalClosure, string(bytes.Repeat([]byte("r"), 124))))},
		{"unmasked close", rawFrame(ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(len(body))}, body)},
		{"unmasked text", rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi"))},
	}
}

// A client frame with a header RFC 6455 forbids fails the connection
// (section 7.1.7): the node answers 1002 and, once that is written and
// its client has it, closes the socket, as after a close, rather than
// wait CloseTimeout with its input read no more.
func TestBadCloseHeaderEndsOnTheAnswer(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the answer can end the connection in time.
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute})
		for i, tc := range badCloseHeaders() {
			c := dialRaw(t, ts.addr, nil)
			s := openedSession(t, ts, i)
			c.write(tc.frame)
			if code := c.answerKeepingTheSocket(); code != ws.StatusProtocolError {
				t.Fatalf("%s: answered %d, want 1002", tc.name, code)
			}
			eventually(t, tc.name+": the connection ended", connectionEnded(ts, s))
		}
	})
}

// The same header sent as the answer to a close the node began is no
// close either, and no close can be told apart after it: the connection
// ends once the node's close is out, not at CloseTimeout.
func TestBadCloseHeaderAnsweringTheNodesClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute}) // as above
		for i, tc := range badCloseHeaders() {
			c := dialRaw(t, ts.addr, nil)
			s := openedSession(t, ts, i)
			s.c.Close(broker.CloseNormal, "bye")
			if code := c.answerKeepingTheSocket(); code != ws.StatusNormalClosure {
				t.Fatalf("%s: closed with %d, want 1000", tc.name, code)
			}
			c.write(tc.frame)
			eventually(t, tc.name+": the connection ended", connectionEnded(ts, s))
		}
	})
}

// A client that sends such a header while it is behind in its reading,
// and more bytes after it, still gets all that was queued before the
// node's 1002, and the 1002: what it sends after the header is no longer
// read on the portable path, and closing a socket over unread input
// makes the kernel reset the connection and throw away what the socket
// still holds, so the socket is closed only once its client has it all
// (the linger of a complete close).
func TestBadHeaderLeavesASlowReaderAllItWasSent(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts, c, s := startSlowReader(t, portable, 10*time.Minute)
		// 256 KiB: more than the client's receive buffer and the node's
		// send buffer hold, so that the node writes its 1002 only once
		// the client has read some.
		const frames, size = 64, 4 << 10
		queueTexts(t, s, frames, size)
		unmasked := rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi"))
		c.write(append(unmasked, frame(ws.OpText, true, []byte("after"))...))
		// The last 5 (20 KiB) fit in the two buffers, with the 1002.
		readTexts(t, c, 0, frames-5, frames)
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		c.write(frame(ws.OpPong, true, nil)) // past the header: never read on the portable path
		readTexts(t, c, frames-5, frames, frames)
		// The node lets go of its socket once the client's kernel has the
		// rest; the client reads it only then.
		eventually(t, "the connection ended", connectionEnded(ts, s))
		if code := c.answerKeepingTheSocket(); code != ws.StatusProtocolError {
			t.Fatalf("answered %d, want 1002", code)
		}
	})
}

// What a client sends after such a header is read once the node's 1002 is
// out and dropped, the next turn after a read that stopped with more to
// read, and the connection ends once its client has all it was sent,
// rather than being read 64 KiB at each of the lingering looks, up to a
// sweep's interval apart, until its close deadline.
func TestBadHeaderFollowedByMoreEndsOnTheAnswer(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the answer can end the connection in time.
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute})
		c := dialRaw(t, ts.addr, nil)
		s := openedSession(t, ts, 0)
		// Under closingReadBytes, past which it would be read no more:
		// 15 looks' reads.
		more := bytes.Repeat([]byte("t"), closingReadBytes-64<<10)
		unmasked := rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi"))
		writeBehind(t, c, append(unmasked, more...), 1)
		if code := c.answerKeepingTheSocket(); code != ws.StatusProtocolError {
			t.Fatalf("answered %d, want 1002", code)
		}
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// A client that sent such a header, reads nothing of what it was sent
// and then ends its side (EOF) ends the connection once the node's close
// is out, as a client that closed does, on both paths: the portable one
// read nothing more after the header, so it saw no EOF and waited for
// the close deadline.
func TestBadHeaderEndsAtTheClientsEOF(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the EOF can end the connection in time.
		ts, c, s := startSlowReader(t, portable, time.Minute)
		queueTexts(t, s, 4, 4<<10) // 16 KiB: more than the client's buffer, less than the node's
		c.write(rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi")))
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// A client that sent such a header and went on sending past
// closingReadBytes, while behind in its reading, and then resets its
// socket ends the connection at the reset, as a client that drops its
// socket does, not at its close deadline: read no more, the node's
// socket lingered until the kernel held nothing unacknowledged, which it
// counts on after a reset (SIOCOUTQ).
func TestBadHeaderPastTheBoundEndsAtTheClientsReset(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the reset can end the connection in time.
		ts, c, s := startSlowReader(t, portable, time.Minute)
		queueTexts(t, s, 4, 4<<10) // 16 KiB: more than the client's buffer, less than the node's
		c.write(rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi")))
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		// Four times the bound: the node stops reading at it, and the
		// writes stop once the sockets between are full.
		var sent atomic.Int64
		more := bytes.Repeat([]byte("t"), 64<<10)
		writeBehindCounting(t, c, more, 4*closingReadBytes/len(more), &sent)
		eventually(t, "the client's writes stopped past the bound", writesStopped(&sent, closingReadBytes))
		if err := c.nc.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.nc.Close() // a reset
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}
