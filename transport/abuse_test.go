package transport

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// Costs one client can cause, each held to its bound (docs/protocol.md section
// 6, since 1.1), at the scale of a test.

// queuedBytes is what the server holds queued for c.
func queuedBytes(c broker.Conn) int64 {
	cc := c.(*conn)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return int64(cc.queuedBytes())
}

// watchQueue samples c's queue until stop is closed and reports the most
// it saw.
func watchQueue(c broker.Conn, stop <-chan struct{}) (peak func() int64) {
	var most atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			most.Store(max(most.Load(), queuedBytes(c)))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	return func() int64 { wg.Wait(); return most.Load() }
}

// TestFloodFromANonReaderStaysWithinTheQueueBound: a client that never
// reads and sends what the server must answer (pings, or commands whose
// replies stand for the broker's errors) is closed with 4000 once the
// answers fill its queue; they never hold more than the bound, and
// another client is served throughout. The old code answered pings
// outside the bound: one such client took a node to 1.57 GB.
func TestFloodFromANonReaderStaysWithinTheQueueBound(t *testing.T) {
	floods := []struct {
		name string
		unit []byte
	}{
		{"pings", frame(ws.OpPing, true, bytes.Repeat([]byte("p"), 125))},
		{"commands", frame(ws.OpText, true, bytes.Repeat([]byte("c"), 125))},
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		for _, fl := range floods {
			t.Run(fl.name, func(t *testing.T) {
				const bound = 16 << 10
				ts := startServer(t, portable, Config{MaxQueueBytes: bound, CloseTimeout: 200 * time.Millisecond})
				other := dialRaw(t, ts.addr, nil)
				eventually(t, "other opened", func() bool { return len(ts.acc.all()) == 1 })
				flooder := dialSmallBuffer(t, ts.addr)
				eventually(t, "flooder opened", func() bool { return len(ts.acc.all()) == 2 })
				s := ts.acc.all()[1]

				stop := make(chan struct{})
				peak := watchQueue(s.c, stop)
				burst := bytes.Repeat(fl.unit, 100)
				for sent := 0; sent < 64<<20 && closeCount(t, ts.srv.Stats(), false, broker.CloseSlowConsumer) == 0; sent += len(burst) {
					if _, err := flooder.nc.Write(burst); err != nil {
						break // the server closed the socket
					}
				}
				close(stop)
				if p := peak(); p > bound {
					t.Fatalf("%d bytes queued for the flooder, bound %d", p, bound)
				}
				if n := closeCount(t, ts.srv.Stats(), false, broker.CloseSlowConsumer); n != 1 {
					t.Fatalf("%d closes with 4000, want the flooder's", n)
				}
				other.write(frame(ws.OpText, true, []byte("still served")))
				if got := other.text(); got != "still served" {
					t.Fatalf("other client got %q", got)
				}
				eventually(t, "flooder dropped", func() bool { return s.disconnected.Load() == 1 })
			})
		}
	})
}

// TestPingsTheReceiverRefusesAreNotAnswered: the transport asks the
// receiver (the broker's rate limit) before each pong, and a refused ping
// gets nothing back.
func TestPingsTheReceiverRefusesAreNotAnswered(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServerWith(t, portable, Config{}, &echoAcceptor{pingLimit: 3})
		c := dialRaw(t, ts.addr, nil)
		for i := range 10 {
			c.write(frame(ws.OpPing, true, []byte{byte('0' + i)}))
		}
		c.write(frame(ws.OpText, true, []byte("end")))
		var pongs []string
		for done := false; !done; {
			f, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			switch f.Header.OpCode {
			case ws.OpPong:
				pongs = append(pongs, string(f.Payload))
			case ws.OpText:
				done = true
			}
		}
		if fmt.Sprint(pongs) != "[0 1 2]" {
			t.Fatalf("pongs %q, want the first 3 only", pongs)
		}
		if n := ts.acc.all()[0].pings.Load(); n != 10 {
			t.Fatalf("receiver asked about %d pings, want 10", n)
		}
	})
}

// TestUnfinishedFragmentedMessageIsClosedWith1008: a message whose
// fragments stop coming is closed once FragmentTimeout passes, however
// many other frames keep the connection alive; the old code kept its
// buffer for as long as pings came.
func TestUnfinishedFragmentedMessageIsClosedWith1008(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const timeout = 200 * time.Millisecond
		ts := startServer(t, portable, Config{FragmentTimeout: timeout})
		c := dialRaw(t, ts.addr, nil)
		start := time.Now()
		c.write(frame(ws.OpText, false, []byte("never")))
		c.write(frame(ws.OpContinuation, false, []byte(" finished")))
		time.Sleep(timeout / 2)
		c.write(frame(ws.OpPing, true, nil))
		if code := c.closeCode(); code != broker.ClosePolicyViolation {
			t.Fatalf("close code %d, want %d", code, broker.ClosePolicyViolation)
		}
		if took := time.Since(start); took < timeout {
			t.Fatalf("closed after %v, before FragmentTimeout", took)
		}
		s := ts.acc.all()[0]
		eventually(t, "disconnected", func() bool { return s.disconnected.Load() == 1 })
		if n := s.texts.Load(); n != 0 {
			t.Fatalf("%d texts delivered", n)
		}
		if n := closeCount(t, ts.srv.Stats(), false, broker.ClosePolicyViolation); n != 1 {
			t.Fatalf("%d server closes counted with 1008, want 1", n)
		}
	})
}

// TestFragmentedMessagesFinishedInTimeAreServed: back-to-back fragmented
// messages, each whole well within FragmentTimeout and together lasting
// longer (one ends and the next begins in the same read), are delivered,
// and the connection stays open after them.
func TestFragmentedMessagesFinishedInTimeAreServed(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const timeout = 400 * time.Millisecond
		ts := startServer(t, portable, Config{FragmentTimeout: timeout})
		c := dialRaw(t, ts.addr, nil)
		c.write(frame(ws.OpText, false, []byte("m0")))
		for i := 1; i <= 6; i++ {
			time.Sleep(timeout / 4)
			c.write(append(frame(ws.OpContinuation, true, []byte("!")), frame(ws.OpText, false, []byte(fmt.Sprint("m", i)))...))
			if got, want := c.text(), fmt.Sprint("m", i-1, "!"); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		c.write(frame(ws.OpContinuation, true, []byte("!")))
		if got := c.text(); got != "m6!" {
			t.Fatalf("got %q", got)
		}
		time.Sleep(2 * timeout) // nothing is pending: no clock runs
		c.write(frame(ws.OpText, true, []byte("still open")))
		if got := c.text(); got != "still open" {
			t.Fatalf("got %q", got)
		}
	})
}
