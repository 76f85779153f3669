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
	return c.peer == peerClosed
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

// TestTheCloseScanTakesOnlyAValidClose: while closing, a close header RFC
// 6455 does not allow a client (fragmented, an RSV bit set, unmasked,
// over 125 bytes) is not the answer to the server's close, and neither
// is a close frame after any header the RFC forbids: the frames can no
// longer be told apart, so the connection is read no more.
func TestTheCloseScanTakesOnlyAValidClose(t *testing.T) {
	body := closeBody(ws.StatusNormalClosure, "")
	closeHeader := func(h ws.Header, payload []byte) []byte {
		h.OpCode, h.Masked, h.Mask, h.Length = ws.OpClose, true, [4]byte{1, 2, 3, 4}, int64(len(payload))
		return rawFrame(h, payload)
	}
	valid := closeHeader(ws.Header{Fin: true}, body)
	for _, tc := range []struct {
		name    string
		deflate bool
		in      []byte
		taken   bool
	}{
		{"valid", false, valid, true},
		{"valid after a compressed message", true, append(rawFrame(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Masked: true, Length: 3}, []byte{1, 2, 3}), valid...), true},
		{"valid after a fragmented message", false, append(append(frame(ws.OpText, false, []byte("a")), frame(ws.OpContinuation, true, []byte("b"))...), valid...), true},
		{"fin unset", false, closeHeader(ws.Header{}, body), false},
		{"rsv1", false, closeHeader(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false)}, body), false},
		{"rsv1 with deflate", true, closeHeader(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false)}, body), false},
		{"rsv2", false, closeHeader(ws.Header{Fin: true, Rsv: ws.Rsv(false, true, false)}, body), false},
		{"rsv3", false, closeHeader(ws.Header{Fin: true, Rsv: ws.Rsv(false, false, true)}, body), false},
		{"over 125 bytes", false, closeHeader(ws.Header{Fin: true}, closeBody(ws.StatusNormalClosure, string(bytes.Repeat([]byte("r"), 124)))), false},
		{"unmasked", false, rawFrame(ws.Header{Fin: true, OpCode: ws.OpClose, Length: 2}, body), false},
		{"inside a payload", false, []byte("xx"), false},
		{"a continuation of no message", false, frame(ws.OpContinuation, true, []byte("b")), false},
	} {
		c := closingConn()
		c.deflate = tc.deflate
		c.Close(broker.CloseNormal, "")
		c.readData(bytes.Clone(tc.in), anyFrames)
		if peerClosedOf(c) != tc.taken {
			t.Fatalf("%s: taken as the client's close %v, want %v", tc.name, peerClosedOf(c), tc.taken)
		}
		if tc.taken {
			continue
		}
		if !c.closingReadOver() {
			t.Fatalf("%s: still read", tc.name)
		}
		c.readData(bytes.Clone(valid), anyFrames)
		if peerClosedOf(c) {
			t.Fatalf("%s: a close frame after it was taken as the client's", tc.name)
		}
	}
}
