package transport

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A close the server starts ends the connection as soon as the client
// answers it with its own close frame (RFC 6455 section 5.5.1: after
// sending and receiving one, an endpoint closes the TCP connection), not
// when the client also drops its socket or the close times out. A client
// library that echoes the close but keeps its socket until the program
// lets go of it (gorilla/websocket does) had the broker keep the
// connection's subscriptions and presence for the whole CloseTimeout: a
// user disconnected by the backend stayed present, for everyone else,
// for 5 seconds.
func TestServerCloseEndsOnTheClientsAnswer(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		// Long enough that only the answer can end the connection while
		// the test waits.
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute})
		for _, before := range []string{"nothing", "half a frame", "a whole frame"} {
			c := dialRaw(t, ts.addr, nil)
			c.write(frame(ws.OpText, true, []byte("hi")))
			if got := c.text(); got != "hi" {
				t.Fatalf("echo %q", got)
			}
			s := ts.acc.all()[len(ts.acc.all())-1]
			// What the client sent as the server closed is read past.
			pending := frame(ws.OpText, true, []byte("late"))
			switch before {
			case "half a frame":
				c.write(pending[:3])
				pending = pending[3:]
			case "a whole frame":
				c.write(pending)
				pending = nil
			default:
				pending = nil
			}
			s.c.Close(4004, "disconnected by the backend")
			for {
				f, err := c.next()
				if err != nil {
					t.Fatalf("%s: reading for the close frame: %v", before, err)
				}
				if f.Header.OpCode == ws.OpClose {
					break
				}
			}
			// The answer, in two writes, its socket kept open.
			answer := append(pending, frame(ws.OpClose, true, closeBody(4004, ""))...)
			c.write(answer[:len(answer)-3])
			c.write(answer[len(answer)-3:])
			deadline := time.Now().Add(10 * time.Second)
			for s.disconnected.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s before the close: the connection did not end on the client's answer", before)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
}
