//go:build linux

package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Connections lingering together on one loop, their clients coming back
// to read what is left at different times, so that each is looked at
// again at a different step, each end once their client has it all,
// though none drops its socket and the close deadline is far.
func TestLingeringConnectionsEachEndOnceRead(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, SendBufferBytes: 16 << 10, CloseTimeout: 10 * time.Minute})
	const clients, frames = 20, 4
	cs := make([]*rawClient, clients)
	for i := range cs {
		cs[i] = dialSmallBuffer(t, ts.addr)
	}
	eventually(t, "the connections opened", func() bool { return len(ts.acc.all()) == clients })
	payload := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 4<<10)))
	sessions := ts.acc.all()
	for _, s := range sessions {
		for range frames { // 16 KiB: more than a client's buffer, less than the node's
			if !s.c.Send(payload) {
				t.Fatal("send refused")
			}
		}
	}
	for _, c := range cs {
		c.write(frame(ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
	}
	eventually(t, "the node wrote all it queued", func() bool {
		for _, s := range sessions {
			if s.c.(*conn).QueuedBytes() != 0 {
				return false
			}
		}
		return true
	})
	for i, c := range cs {
		time.Sleep(20 * time.Millisecond) // the later ones past more looks
		for j := range frames {
			if f, err := c.next(); err != nil || f.Header.OpCode != ws.OpText {
				t.Fatalf("client %d, message %d: opcode %v, %v", i, j+1, f.Header.OpCode, err)
			}
		}
		if code := c.answerKeepingTheSocket(); code != ws.StatusNormalClosure {
			t.Fatalf("client %d: answered %d, want 1000", i, code)
		}
	}
	eventually(t, "every connection ended", func() bool {
		for _, s := range sessions {
			if s.disconnected.Load() != 1 {
				return false
			}
		}
		return ts.srv.Connections() == 0
	})
}
