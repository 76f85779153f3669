package transport

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// A frame whose header came and whose payload stops coming is closed
// with 1008 once FragmentTimeout passes, as an unfinished fragmented
// message is, not at the heartbeat timeout.
func TestUnfinishedFrameIsClosedWith1008(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const timeout = 200 * time.Millisecond
		ts := startServer(t, portable, Config{FragmentTimeout: timeout, Heartbeat: time.Hour})
		c := dialRaw(t, ts.addr, nil)
		whole := frame(ws.OpText, true, bytes.Repeat([]byte("a"), 1000))
		c.write(whole[:500])
		if code, reason := c.closeFrame(); code != broker.ClosePolicyViolation || reason != "message not completed in time" {
			t.Fatalf("closed with %d %q, want 1008 %q", code, reason, "message not completed in time")
		}
		c.nc.Close() // the close handshake's answer: the server lets go at once
		s := ts.acc.all()[0]
		eventually(t, "disconnected", func() bool { return s.disconnected.Load() == 1 })
		if n := s.texts.Load(); n != 0 {
			t.Fatalf("%d texts delivered", n)
		}
	})
}

// Frames that each come in parts but are whole well within
// FragmentTimeout, back to back for longer than it (each read ends one
// and begins the next), are delivered and the connection stays open.
func TestFramesInPartsFinishedInTimeAreServed(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const timeout = 400 * time.Millisecond
		ts := startServer(t, portable, Config{FragmentTimeout: timeout, Heartbeat: time.Hour})
		c := dialRaw(t, ts.addr, nil)
		msg := func(i int) []byte { return frame(ws.OpText, true, []byte(strings.Repeat(string(rune('a'+i)), 200))) }
		c.write(msg(0)[:100])
		for i := 1; i <= 6; i++ {
			time.Sleep(timeout / 4)
			c.write(append(msg(i - 1)[100:], msg(i)[:100]...))
			if got := c.text(); got != strings.Repeat(string(rune('a'+i-1)), 200) {
				t.Fatalf("message %d: got %q", i-1, got)
			}
		}
		c.write(msg(6)[100:])
		if got := c.text(); got != strings.Repeat("g", 200) {
			t.Fatalf("got %q", got)
		}
		time.Sleep(2 * timeout) // nothing is pending: no clock runs
		c.write(frame(ws.OpText, true, []byte("still open")))
		if got := c.text(); got != "still open" {
			t.Fatalf("got %q", got)
		}
	})
}
