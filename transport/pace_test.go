package transport

import (
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/herald-broker/herald/broker"
)

// A connection's commands are read at once up to the pace's burst, then
// at its rate; what waits meanwhile stays in the socket and is read, in
// order, once the pace allows it. The connection is counted throttled
// once, and stays open.
func TestPaceReadsABurstThenItsRate(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const rate = 250 // read 500 a second, bursts of 1000
		ts := startServer(t, portable, Config{CommandRate: rate})
		c := dialRaw(t, ts.addr, nil)
		const sent = 1500
		var blob []byte
		for i := range sent {
			blob = append(blob, frame(ws.OpText, true, []byte{'a' + byte(i%26)})...)
		}
		start := time.Now()
		c.write(blob)
		eventually(t, "the session opened", func() bool { return len(ts.acc.all()) == 1 })
		s := ts.acc.all()[0]
		eventually(t, "every command read", func() bool {
			n := s.texts.Load()
			if bound := paceFactor*2*rate + paceFactor*rate*time.Since(start).Seconds() + 1; float64(n) > bound {
				t.Fatalf("%d commands read, over the pace's %.0f", n, bound)
			}
			return n == sent
		})
		for i := range sent {
			if got, want := c.text(), string([]byte{'a' + byte(i%26)}); got != want {
				t.Fatalf("echo %d is %q, want %q", i, got, want)
			}
		}
		if n := ts.srv.Stats().Throttled; n != 1 {
			t.Errorf("Stats.Throttled = %d, want 1", n)
		}
		if s.disconnected.Load() != 0 {
			t.Error("the connection was closed")
		}
	})
}

// Pongs ask for nothing and count one in quietPerPace toward the pace: a
// client that answers pings has its pongs read beside its commands, not
// throttled, and one sending nothing but pongs has them read at
// quietPerPace times its pace, throttled once, and stays open.
func TestPacedPongs(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CommandRate: 100}) // paces 200 a second, bursts of 400
		c := dialRaw(t, ts.addr, nil)
		pongs := func(n int, then string) []byte {
			var blob []byte
			for range n {
				blob = append(blob, frame(ws.OpPong, true, nil)...)
			}
			return append(blob, frame(ws.OpText, true, []byte(then))...)
		}
		c.write(pongs(100*quietPerPace, "after the answers"))
		if got := c.text(); got != "after the answers" {
			t.Fatalf("echo %q", got)
		}
		if n := ts.srv.Stats().Throttled; n != 0 {
			t.Fatalf("Stats.Throttled = %d after pongs within the pace", n)
		}
		c.write(pongs(600*quietPerPace, "after the flood"))
		if got := c.text(); got != "after the flood" {
			t.Fatalf("echo %q", got)
		}
		if n := ts.srv.Stats().Throttled; n != 1 {
			t.Errorf("Stats.Throttled = %d after a flood of pongs, want 1", n)
		}
	})
}

// The fragments before a message's last count one in quietPerPace toward
// the pace, as pongs do: a message in a flood of empty fragments is read
// whole, its connection throttled once.
func TestPacedFragments(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CommandRate: 100})
		c := dialRaw(t, ts.addr, nil)
		blob := frame(ws.OpText, false, []byte("a"))
		for range 600 * quietPerPace {
			blob = append(blob, frame(ws.OpContinuation, false, nil)...)
		}
		c.write(append(blob, frame(ws.OpContinuation, true, []byte("b"))...))
		if got := c.text(); got != "ab" {
			t.Fatalf("echo %q", got)
		}
		if n := ts.srv.Stats().Throttled; n != 1 {
			t.Errorf("Stats.Throttled = %d after a flood of fragments, want 1", n)
		}
	})
}

func TestPaceRate(t *testing.T) {
	r := newPaceRate(100) // 200 a second, bursts of 400
	var p broker.Bucket
	now := int64(time.Hour)
	if got := r.Budget(p, now); got != 400 {
		t.Fatalf("a new pace allows %d, want 400", got)
	}
	r.Spend(&p, now, 400)
	if got := r.Budget(p, now); got != 0 {
		t.Fatalf("a spent pace allows %d, want 0", got)
	}
	if at := r.ResumeAt(p); at != now+int64(5*time.Millisecond) {
		t.Fatalf("resumes %v after, want 5ms", time.Duration(at-now))
	}
	if got := r.Budget(p, now+int64(time.Second)); got != 200 {
		t.Fatalf("a second later it allows %d, want 200", got)
	}
	if p.Full(now+int64(time.Second)) || !p.Full(now+int64(2*time.Second)) {
		t.Fatal("a pace spent whole is full again after 2s, not before")
	}
	if off := newPaceRate(-1); off.Budget(p, now) != anyFrames || newPaceRate(0).Budget(p, now) != anyFrames {
		t.Fatal("no command rate must pace nothing")
	}
}
