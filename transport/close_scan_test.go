package transport

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// closingConn is a bare connection for the close scan's tests, its close
// deadline far enough that only the client's close could end it.
func closingConn() *conn {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 1 << 20, closeTimeout: 1 << 40, heartbeat: 1 << 40})
	c.recv = &textRecorder{}
	return c
}

// peerClosedOf says whether c took a close frame from its client as the
// answer to its own.
func peerClosedOf(c *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerClosed
}

// xFrame is a text frame of n bytes of "x" whose mask is zero, so that
// its payload is "x" on the wire too: each "xx" in it reads as a close
// header (FIN unset, RSV bits set, unmasked, 120 bytes).
func xFrame(n int) []byte {
	return rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: int64(n)}, bytes.Repeat([]byte("x"), n))
}

// TestTheCloseScanGoesOnFromTheFrameThatClosed: the rest of the read that
// brought the frame closing the connection is walked from that frame, so
// the scan for the client's close never begins inside a payload, and a
// close frame read with that frame is the answer already.
func TestTheCloseScanGoesOnFromTheFrameThatClosed(t *testing.T) {
	closeFrame := frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, ""))
	in := append(frame(ws.OpBinary, true, nil), xFrame(64<<10)...)
	in = append(in, closeFrame...)
	// Read as a loop reads a client that sent it at once, 4 KiB a read:
	// the first ends inside the text frame's payload.
	c := closingConn()
	const piece = 4 << 10
	for at := 0; at < len(in); at += piece {
		c.readData(bytes.Clone(in[at:min(at+piece, len(in))]), anyFrames)
		if at == 0 && c.closeCode(false) != broker.CloseUnsupportedData {
			t.Fatalf("the binary frame closed with %d, want %d", c.closeCode(false), broker.CloseUnsupportedData)
		}
		if end := at + piece; end < len(in)-len(closeFrame) && peerClosedOf(c) {
			t.Fatalf("the close was taken as answered %d bytes into a %d-byte text frame", end-6, len(in)-6-len(closeFrame))
		}
		if c.closingReadOver() {
			t.Fatalf("read no more after %d bytes of frames", at+piece)
		}
	}
	if !peerClosedOf(c) {
		t.Fatal("the client's close frame was not seen")
	}

	c = closingConn()
	c.readData(append(frame(ws.OpBinary, true, nil), closeFrame...), anyFrames)
	if !c.isClosing() || !peerClosedOf(c) {
		t.Fatalf("closing %v, the close frame read with the binary one taken %v", c.isClosing(), peerClosedOf(c))
	}
}
