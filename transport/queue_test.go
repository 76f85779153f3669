package transport

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// TestPongsCountTowardTheQueueBound: the pong that does not fit closes
// the connection with 4000, as a message would.
func TestPongsCountTowardTheQueueBound(t *testing.T) {
	stats := new(counters)
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 300, closeTimeout: 1, heartbeat: 1, stats: stats})
	c.recv = &textRecorder{}
	ping := frame(ws.OpPing, true, bytes.Repeat([]byte("p"), 125)) // its pong is 127 bytes
	c.readData(bytes.Repeat(ping, 3), anyFrames)
	if q := c.queuedBytes(); q > 300 || !c.isClosing() {
		t.Fatalf("%d bytes queued, closing %v: want the third pong to overflow 300", q, c.isClosing())
	}
	batch := c.batch(nil, maxBatch)
	if len(batch) != 1 || !bytes.Equal(batch[0], closeFrame(broker.CloseSlowConsumer, "slow consumer")) {
		t.Fatalf("after the overflow the batch is %q, want the 4000 close frame only", batch)
	}
	if n := stats.closes[0][codeIndex(broker.CloseSlowConsumer)].Load(); n != 1 {
		t.Fatalf("server 4000 closes = %d, want 1", n)
	}
}

// TestACloseFrameThatOverflowsTheQueueIsA4000: a close frame counts too;
// when it does not fit, the queue is dropped and the close is 4000's.
func TestACloseFrameThatOverflowsTheQueueIsA4000(t *testing.T) {
	stats := new(counters)
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 100, closeTimeout: 1, heartbeat: 1, stats: stats})
	if !c.Send(make([]byte, 90)) {
		t.Fatal("a frame within the bound refused")
	}
	c.Close(broker.CloseTooManyErrors, "too many errors")
	batch := c.batch(nil, maxBatch)
	if len(batch) != 1 || !bytes.Equal(batch[0], closeFrame(broker.CloseSlowConsumer, "slow consumer")) {
		t.Fatalf("batch %q, want the 4000 close frame only", batch)
	}
	if n := stats.closes[0][codeIndex(broker.CloseTooManyErrors)].Load(); n != 0 {
		t.Fatalf("the close that overflowed was counted as 4003 (%d)", n)
	}
	if n := stats.closes[0][codeIndex(broker.CloseSlowConsumer)].Load(); n != 1 {
		t.Fatalf("server 4000 closes = %d, want 1", n)
	}
}

// TestAClosingConnectionFreesItsHalfReadMessage: once closing, nothing
// more is parsed, so a fragmented message's buffer goes at the next read
// instead of when the socket does.
func TestAClosingConnectionFreesItsHalfReadMessage(t *testing.T) {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1})
	c.recv = &textRecorder{}
	c.readData(frame(ws.OpText, false, bytes.Repeat([]byte("f"), 1000)), anyFrames)
	if c.in == nil || c.msgSince.Load() == 0 {
		t.Fatal("the open message is not kept and stamped")
	}
	c.Close(broker.CloseNormal, "")
	c.readData(frame(ws.OpContinuation, false, []byte("more")), anyFrames)
	// Its reader stays, without a buffer, to count what it walks past
	// (closingReadBytes).
	if c.in != nil && (c.in.message != nil || c.in.partial != nil) {
		t.Fatal("a closing connection keeps its half-read message")
	}
}

// TestAClosingConnectionIsReadUpToABound: what a closing connection's
// client sends is walked past up to closingReadBytes, and then the
// connection is to be read no more; a stream's input, up to
// streamReadMost.
func TestAClosingConnectionIsReadUpToABound(t *testing.T) {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1})
	c.recv = &textRecorder{}
	c.Close(broker.CloseNormal, "")
	chunk := bytes.Repeat(frame(ws.OpText, true, bytes.Repeat([]byte("x"), 1000)), 64)
	for read := 0; read < closingReadBytes; read += len(chunk) {
		if c.closingReadOver() {
			t.Fatalf("read no more after %d bytes, under %d", read, closingReadBytes)
		}
		c.readData(chunk, anyFrames)
	}
	if !c.closingReadOver() {
		t.Fatalf("still read after %d bytes", closingReadBytes)
	}
	s := sseConn(1 << 10)
	s.readData(make([]byte, streamReadMost-1), anyFrames)
	if !s.isClosing() || s.closingReadOver() {
		t.Fatalf("a stream closing %v, read no more %v, under its bound", s.isClosing(), s.closingReadOver())
	}
	s.readData([]byte{1}, anyFrames)
	if !s.closingReadOver() {
		t.Fatal("a stream still read past its bound")
	}
}
