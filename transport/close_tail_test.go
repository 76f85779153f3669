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

// A client that closes while it is behind in its reading still gets all
// that was queued before the node's answer, and the answer: the node does
// not close its socket while the socket holds some of it. Once closed, a
// byte from the client (here a pong, which RFC 6455 section 5.5.2 has it
// send until it reads the node's close frame) makes the kernel reset the
// connection, and what the socket held is lost. The connection ends once
// the client has it all, though the client keeps its socket open.
func TestClientsCloseKeepsWhatASlowReaderHasNotRead(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts, c, s := startSlowReader(t, portable, 10*time.Minute)
		// 256 KiB: more than the client's receive buffer and the node's
		// send buffer hold, so that the node writes its answer only
		// once the client has read some.
		const frames, size = 64, 4 << 10
		queueTexts(t, s, frames, size)
		c.write(frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
		// The last 5 (20 KiB) fit in the two buffers, with the answer.
		readTexts(t, c, 0, frames-5, frames)
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		c.write(frame(ws.OpPong, true, nil))
		readTexts(t, c, frames-5, frames, frames)
		if code := c.answerKeepingTheSocket(); code != ws.StatusNormalClosure {
			t.Fatalf("answered %d, want 1000", code)
		}
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// A client that closes and then reads nothing leaves the node's socket
// holding what it was sent: the node waits for it no longer than its
// close deadline, and the connection ends then all the same.
func TestClientsCloseEndsAtTheDeadlineForAReaderThatStopped(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts, c, s := startSlowReader(t, portable, 500*time.Millisecond)
		queueTexts(t, s, 4, 4<<10) // 16 KiB: more than the client's buffer, less than the node's
		c.write(frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// A client that closes, reads nothing, and goes on sending leaves the
// node's socket holding what it was sent, so the connection lingers; what
// the node reads of it meanwhile counts toward closingReadBytes, and once
// past it the connection ends: the client is sending, not closing.
// Without the count a loop read 64 KiB of it at each look until the close
// deadline.
func TestClientSendingOnAfterItsCloseEndsAtTheBound(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the bound can end the connection in time.
		ts, c, s := startSlowReader(t, portable, time.Minute)
		queueTexts(t, s, 4, 4<<10) // 16 KiB: more than the client's buffer, less than the node's
		c.write(frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		// Twice the bound, in frames: the node may read it all, or stop
		// reading and leave the write blocked until the socket goes.
		text := frame(ws.OpText, true, bytes.Repeat([]byte("t"), 64<<10))
		writeBehind(t, c, text, 2*closingReadBytes/len(text)+1)
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// A client that had nearly closingReadBytes on its way when the node
// closed, and then closes in turn while behind in its reading, still gets
// all it was sent though what it sends after its close takes what the
// node read of it past the bound: only what a client sends after its
// close (afterCloseBytes) tells one that closed and sends on, not what it
// sent before it knew of the node's close. Cut off at the bound at once,
// the node closed its socket over unread input, which reset the
// connection and threw away the end of the stream.
func TestClientsCloseJustUnderTheBoundKeepsWhatASlowReaderHasNotRead(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts, c, s := startSlowReader(t, portable, 10*time.Minute)
		// 256 KiB: the node writes its close frame only once the client
		// has read some.
		const frames, size = 64, 4 << 10
		queueTexts(t, s, frames, size)
		s.c.Close(broker.CloseNormal, "bye")
		// Sent as the node closed: 18 bytes short of the bound with its
		// header, so that the client's close frame and pongs take it past.
		c.write(frame(ws.OpBinary, true, bytes.Repeat([]byte("u"), closingReadBytes-32)))
		readTexts(t, c, 0, frames-5, frames)
		eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		// 46 KiB of pongs after its close, under afterCloseBytes but more
		// than one read of the node's takes, so that some wait unread as
		// the bound is passed.
		after := frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, ""))
		for i := 0; i < 360; i++ { // RFC 6455 section 5.5.3 allows them unsolicited
			after = append(after, frame(ws.OpPong, true, bytes.Repeat([]byte("p"), 125))...)
		}
		c.write(after)
		// Its close is read, and with it the bound passed, before it
		// reads on.
		eventually(t, "the node read the client's close", func() bool { return peerClosedOf(s.c.(*conn)) })
		readTexts(t, c, frames-5, frames, frames)
		if code := c.answerKeepingTheSocket(); code != ws.StatusNormalClosure {
			t.Fatalf("closed with %d, want 1000", code)
		}
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}

// startSlowReader starts a server with a 16 KiB send buffer and the given
// close deadline, and opens a connection to it from a client with a tiny
// receive buffer: what it is sent soon waits in the two buffers.
func startSlowReader(t *testing.T, portable bool, closeTimeout time.Duration) (*testServer, *rawClient, *echoSession) {
	t.Helper()
	ts := startServer(t, portable, Config{SendBufferBytes: 16 << 10, CloseTimeout: closeTimeout})
	c := dialSmallBuffer(t, ts.addr)
	return ts, c, openedSession(t, ts, 0)
}

// openedSession waits for the i-th connection to ts (from 0) to open and
// returns its session.
func openedSession(t *testing.T, ts *testServer, i int) *echoSession {
	t.Helper()
	eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == i+1 })
	return ts.acc.all()[i]
}

// queueTexts has the node send s's client frames text frames of size
// bytes each.
func queueTexts(t *testing.T, s *echoSession, frames, size int) {
	t.Helper()
	payload := bytes.Repeat([]byte("m"), size)
	for i := 0; i < frames; i++ {
		if !s.c.Send(ws.MustCompileFrame(ws.NewTextFrame(payload))) {
			t.Fatal("send refused")
		}
	}
}

// readTexts reads messages from to to (of frames) and fails unless each
// is a text frame.
func readTexts(t *testing.T, c *rawClient, from, to, frames int) {
	t.Helper()
	for i := from; i < to; i++ {
		if f, err := c.next(); err != nil || f.Header.OpCode != ws.OpText {
			t.Fatalf("message %d of %d: opcode %v, %v", i+1, frames, f.Header.OpCode, err)
		}
	}
}

// connectionEnded holds once s's connection has ended and ts has none.
func connectionEnded(ts *testServer, s *echoSession) func() bool {
	return func() bool { return s.disconnected.Load() == 1 && ts.srv.Connections() == 0 }
}

// writeBehind has c write b times times, or until a write fails, while
// the test goes on; cleanup closes c's socket, which ends the writes
// should the node read no more, and waits for them.
func writeBehind(t *testing.T, c *rawClient, b []byte, times int) {
	writeBehindCounting(t, c, b, times, new(atomic.Int64))
}

// writeBehindCounting is writeBehind adding to sent what the writes took.
func writeBehindCounting(t *testing.T, c *rawClient, b []byte, times int, sent *atomic.Int64) {
	ended := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < times && err == nil; i++ {
			var n int
			n, err = c.nc.Write(b)
			sent.Add(int64(n))
		}
		ended <- err
	}()
	t.Cleanup(func() {
		c.nc.Close()
		<-ended
	})
}

// writesStopped holds once sent is past least and has not grown over 40
// polls in a row (eventually polls each 5 ms): the writes wait for room
// that does not come.
func writesStopped(sent *atomic.Int64, least int64) func() bool {
	last, still := int64(-1), 0
	return func() bool {
		n := sent.Load()
		if n != last {
			last, still = n, 0
			return false
		}
		still++
		return n > least && still >= 40
	}
}

// A client that never closes and sends past closingReadBytes once the
// node's close is out, then resets its socket, ends the connection at the
// reset (on the portable path at the next sweep), not at its close
// deadline: its input read no more, no read tells the node of the reset.
func TestClientSendingPastTheBoundEndsAtItsReset(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the reset can end the connection in time; sweeps each 2.5 s.
		ts := startServer(t, portable, Config{SendBufferBytes: 16 << 10, CloseTimeout: time.Minute, Heartbeat: 10 * time.Second})
		c := dialSmallBuffer(t, ts.addr)
		s := openedSession(t, ts, 0)
		s.c.Close(broker.CloseNormal, "bye")
		eventually(t, "the node wrote its close", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
		var sent atomic.Int64
		text := frame(ws.OpText, true, bytes.Repeat([]byte("t"), 64<<10))
		writeBehindCounting(t, c, text, 8*closingReadBytes/len(text), &sent)
		eventually(t, "the client's writes stopped past the bound", writesStopped(&sent, closingReadBytes))
		if err := c.nc.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.nc.Close() // a reset
		eventually(t, "the connection ended", connectionEnded(ts, s))
	})
}
