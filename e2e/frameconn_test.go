package e2e

import (
	"io"
	"net"
	"sync"

	"github.com/gobwas/ws"
)

// frameConn is a test client's connection on which every frame goes out
// in one Write under a lock: a client's read loop answers pings while the
// test writes commands, and two frames must not interleave.
type frameConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// writeFrame sends one whole, masked client frame in a single Write.
func writeFrame(w io.Writer, op ws.OpCode, payload []byte) error {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), payload...)))
	b, err := ws.CompileFrame(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
