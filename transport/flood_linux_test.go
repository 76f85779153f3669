//go:build linux

package transport

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// flooders are connections that send the smallest commands, 4096 to a
// write, as fast as their sockets take them, and read and throw away
// whatever the server sends them.
type flooders struct {
	clients []*rawClient
	wg      sync.WaitGroup
}

func startFlooders(t *testing.T, addr string, n int) *flooders {
	t.Helper()
	var blob []byte
	for range 4096 {
		blob = append(blob, frame(ws.OpText, true, []byte("{}"))...)
	}
	f := &flooders{}
	for range n {
		c := dialRaw(t, addr, nil)
		_ = c.nc.SetDeadline(time.Time{})
		f.clients = append(f.clients, c)
		f.wg.Add(2)
		go func() { defer f.wg.Done(); _, _ = io.Copy(io.Discard, bufio.NewReader(c.nc)) }()
		go func() {
			defer f.wg.Done()
			for {
				if _, err := c.nc.Write(blob); err != nil {
					return // closed by stop
				}
			}
		}()
	}
	return f
}

// stop closes the flooders' sockets, which ends their writes, blocked or
// not, and waits for their goroutines.
func (f *flooders) stop() {
	for _, c := range f.clients {
		c.nc.Close()
	}
	f.wg.Wait()
}

// heldSamples samples srv.Behind every 10 ms, n times, calling between
// (when not nil) before each sample; it returns how many were behind.
func heldSamples(srv *Server, n int, between func(i int)) int {
	held := 0
	for i := range n {
		if between != nil {
			between(i)
		}
		if srv.Behind() {
			held++
		}
		time.Sleep(10 * time.Millisecond)
	}
	return held
}

// heldAtMost is how many of 300 samples may find the node behind while
// clients flood it: a loaded machine under the race detector may stall a
// loop now and then. Reading each connection until its socket was empty,
// 128 KiB a wake, held it in about half of them.
const heldAtMost = 30

// A loop shares each turn among the connections that send, so a few that
// flood it with commands cannot make its turns long: the node is not held
// behind its delivery bound, and another connection on the same loop gets
// every message sent to it while they flood. No pace here (CommandRate
// 0): the turn's shares alone must do it.
func TestFloodLeavesTheLoopToOthers(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	victim := dialRaw(t, ts.addr, nil)
	eventually(t, "the victim is open", func() bool { return len(ts.acc.all()) == 1 })
	to := ts.acc.all()[0].c
	f := startFlooders(t, ts.addr, 4)
	defer f.stop()
	eventually(t, "every flooder is read", func() bool {
		all := ts.acc.all()
		for _, s := range all[1:] {
			if s.texts.Load() == 0 {
				return false
			}
		}
		return len(all) == 5
	})
	flooded := func() (n int64) {
		for _, s := range ts.acc.all()[1:] {
			n += s.texts.Load()
		}
		return n
	}
	before := flooded()
	const samples = 300
	held := heldSamples(ts.srv, samples, func(i int) {
		to.Send(ws.MustCompileFrame(ws.NewTextFrame(fmt.Appendf(nil, "m%d", i))))
	})
	_ = victim.nc.SetDeadline(time.Now().Add(10 * time.Second))
	for i := range samples {
		if got, want := victim.text(), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("the victim read %q, want %q", got, want)
		}
	}
	if n := flooded() - before; n < 4*4096 {
		t.Fatalf("the flooders were answered %d commands while sampling: no flood to share the loop with", n)
	}
	if held > heldAtMost {
		t.Fatalf("4 flooding connections held the node in %d of %d samples", held, samples)
	}
}

// With the broker's rate to pace them, flooding connections are read at
// twice it, bursts of twice its burst, whatever they send: each is
// answered that many commands at most, counted throttled, and not closed;
// the node is not held behind its bound.
func TestCommandFloodIsPaced(t *testing.T) {
	const rate = 100 // the broker's default: read 200 a second, bursts of 400
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond, CommandRate: rate})
	start := time.Now()
	f := startFlooders(t, ts.addr, 4)
	defer f.stop()
	const samples = 300
	held := heldSamples(ts.srv, samples, nil)
	sessions := ts.acc.all()
	answered := make([]int64, len(sessions))
	for i, s := range sessions {
		answered[i] = s.texts.Load()
	}
	bound := paceFactor*2*rate + paceFactor*rate*time.Since(start).Seconds() + 1
	if len(sessions) != 4 {
		t.Fatalf("%d sessions, want 4", len(sessions))
	}
	for i, s := range sessions {
		if float64(answered[i]) > bound {
			t.Errorf("flooder %d was answered %d commands, over the pace's %.0f", i, answered[i], bound)
		}
		if answered[i] < paceFactor*2*rate {
			t.Errorf("flooder %d was answered %d commands, less than one burst of %d", i, answered[i], paceFactor*2*rate)
		}
		if s.disconnected.Load() != 0 {
			t.Errorf("flooder %d was closed", i)
		}
	}
	if n := ts.srv.Stats().Throttled; n < 4 {
		t.Errorf("Stats.Throttled = %d, want each of the 4 flooders counted", n)
	}
	if held > heldAtMost {
		t.Errorf("4 flooding connections held the node in %d of %d samples", held, samples)
	}
}
