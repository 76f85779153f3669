package transport

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A close frame whose body breaks RFC 6455 is answered with 1002, and it
// is still the client's close: the client sent its half of the closing
// handshake, so once the 1002 is written the node has sent and received
// a close and ends the connection (RFC 6455 section 5.5.1), rather than
// wait CloseTimeout for a second close the client will not send.
func TestCloseFrameWithABadBodyEndsOnTheAnswer(t *testing.T) {
	cases := []struct {
		name string
		body []byte
	}{
		{"one-byte body", []byte{3}},
		{"code below 1000", closeBody(999, "")},
		{"code 1005", closeBody(ws.StatusNoStatusRcvd, "")},
		{"code 1006", closeBody(ws.StatusAbnormalClosure, "")},
		{"code 1015", closeBody(ws.StatusTLSHandshake, "")},
		{"code above 4999", closeBody(5000, "")},
		{"reason not UTF-8", closeBody(ws.StatusNormalClosure, "\xff")},
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		// Far longer than the test waits (eventually: 10 s), so that only
		// the end of the handshake can end the connection in time.
		ts := startServer(t, portable, Config{CloseTimeout: 10 * time.Minute})
		for i, tc := range cases {
			c := dialRaw(t, ts.addr, nil)
			eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == i+1 })
			s := ts.acc.all()[i]
			c.write(frame(ws.OpClose, true, tc.body))
			if code := c.answerKeepingTheSocket(); code != ws.StatusProtocolError {
				t.Fatalf("%s: answered %d, want 1002", tc.name, code)
			}
			eventually(t, tc.name+": the connection ended", func() bool {
				return s.disconnected.Load() == 1 && ts.srv.Connections() == 0
			})
		}
	})
}

// A close the client starts ends the connection as soon as the node's
// answer is written (RFC 6455 sections 5.5.1 and 7.1.1: the server closes
// the TCP connection first), not when the client drops its socket or
// CloseTimeout passes: for a client that waits for the server to close,
// as the RFC asks, the connection, and what the broker holds for it,
// lasted the whole CloseTimeout.
func TestClientsCloseEndsOnTheAnswer(t *testing.T) {
	bodies := []struct {
		name string
		body []byte
		code ws.StatusCode // the answer's; 0: no body
	}{
		{"1000", closeBody(ws.StatusNormalClosure, "bye"), ws.StatusNormalClosure},
		{"4999", closeBody(4999, ""), 4999},
		{"no body", nil, 0},
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CloseTimeout: 10 * time.Minute}) // as above
		for i, tc := range bodies {
			c := dialRaw(t, ts.addr, nil)
			eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == i+1 })
			s := ts.acc.all()[i]
			c.write(frame(ws.OpClose, true, tc.body))
			if code := c.answerKeepingTheSocket(); code != tc.code {
				t.Fatalf("%s: answered %d, want %d", tc.name, code, tc.code)
			}
			eventually(t, tc.name+": the connection ended", func() bool {
				return s.disconnected.Load() == 1 && ts.srv.Connections() == 0
			})
		}
	})
}

// answerKeepingTheSocket reads the server's close frame and the end of
// its stream, and returns the frame's code (0: no body). Unlike
// closeCode it keeps the client's socket open and sends nothing more, so
// that only the node can end the connection. The end of the stream comes
// with the half-close the node makes once its close frame is written,
// whether or not it then waits: its accounting (Connections, the
// receiver's Disconnected) says whether the connection ended.
func (c *rawClient) answerKeepingTheSocket() ws.StatusCode {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading for a close frame: %v", err)
		}
		if f.Header.OpCode != ws.OpClose {
			continue
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			c.t.Fatalf("after the close frame: %v, want EOF", err)
		}
		if len(f.Payload) < 2 {
			return 0
		}
		return ws.StatusCode(binary.BigEndian.Uint16(f.Payload))
	}
}
