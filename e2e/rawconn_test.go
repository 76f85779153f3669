package e2e

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/gobwas/ws"
)

// A socket to a node driven by hand, as the tests of misbehaving clients
// need: upgraded but left raw, with a small receive buffer if need be,
// frames masked by hand, and the close code read at its end.

// rawConn upgrades a connection and returns the socket for hand-made bytes.
// rcvbuf > 0 shrinks the client's receive buffer, so that a client that
// does not read fills it fast.
func rawConn(t *testing.T, url string, rcvbuf int) net.Conn {
	t.Helper()
	d := ws.Dialer{Timeout: wait}
	if rcvbuf > 0 {
		d.NetDial = (&net.Dialer{Control: smallRcvBuf(rcvbuf)}).DialContext
	}
	conn, _, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// smallRcvBuf is a net.Dialer Control that sets the socket's receive
// buffer to rcvbuf bytes before it connects.
func smallRcvBuf(rcvbuf int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// maskedText is one complete masked client text frame.
func maskedText(payload string) []byte {
	var b strings.Builder
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	ws.WriteHeader(&b, h)
	p := []byte(payload)
	ws.Cipher(p, h.Mask, 0)
	b.Write(p)
	return []byte(b.String())
}

// lastCloseCode reads frames until the socket ends: the close code, or 0.
func lastCloseCode(c net.Conn) int {
	for {
		h, err := ws.ReadHeader(c)
		if err != nil {
			return 0
		}
		p := make([]byte, h.Length)
		if _, err := readFull(c, p); err != nil {
			return 0
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(p)
			return int(code)
		}
	}
}

func readFull(c net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := c.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
