//go:build linux

package transport

import (
	"bufio"
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// A closed connection is not kept by its loop: not by the probes it left
// unanswered, remembered after their watches ended, and not with the
// half-read message it held (here 120 KiB each), even when the loop has
// nothing more to do that would forget them.
func TestDroppedConnectionsAreNotKept(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 20 * time.Millisecond})
	const n = 9
	var probed atomic.Int32
	var wg sync.WaitGroup
	var clients []*rawClient
	for range n {
		c := dialRaw(t, ts.addr, nil)
		_ = c.nc.SetDeadline(time.Time{})
		clients = append(clients, c)
		c.write(frame(ws.OpText, false, bytes.Repeat([]byte("a"), 120<<10))) // a message begun, never finished
		wg.Add(1)
		go func() { // reads everything, answers no ping
			defer wg.Done()
			br := bufio.NewReader(c.nc)
			counted := false
			for {
				f, err := ws.ReadFrame(br)
				if err != nil {
					return
				}
				if f.Header.OpCode == ws.OpPing && len(f.Payload) == 8 && !counted {
					counted = true
					probed.Add(1)
				}
			}
		}()
	}
	eventually(t, "every client is open", func() bool { return len(ts.acc.all()) == n })
	stop := make(chan struct{})
	var fan sync.WaitGroup
	var conns []broker.Conn
	for _, s := range ts.acc.all() {
		conns = append(conns, s.c)
	}
	for range 10 { // 90 fan-out frames every 2 ms: a busy loop
		fanOutEvery(2*time.Millisecond, conns, stop, &fan)
	}
	eventually(t, "every client is probed", func() bool { return probed.Load() == n })
	close(stop)
	fan.Wait()
	time.Sleep(600 * time.Millisecond) // the watches (10 bounds) end with their probes out
	for _, c := range clients {
		c.nc.Close()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil { // the loop has exited: its state may be read
		t.Fatal(err)
	}
	l := ts.srv.loops[0]
	for _, m := range l.probes.missed {
		if m.c != nil && !m.c.live {
			t.Fatal("a closed connection is still remembered by its loop's unanswered probes")
		}
	}
	for _, s := range ts.acc.all() {
		if c := s.c.(*conn); c.in != nil {
			t.Fatalf("a closed connection still holds %d KiB of a half-read message", cap(c.in.message)>>10)
		}
	}
}
