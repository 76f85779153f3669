package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// countConn counts what it is sent and keeps nothing, so that fan-out can
// be measured alone.
type countConn struct{ frames atomic.Int64 }

func (c *countConn) Send([]byte) bool  { c.frames.Add(1); return true }
func (c *countConn) Close(int, string) {}

// fanoutBroker has n sessions subscribed to "t", set up without a worker.
func fanoutBroker(tb testing.TB, n int) (*Broker, *countConn) {
	b, _ := newTestBroker(tb, Config{})
	conn := &countConn{}
	for range n {
		s := b.Connect(conn, ClientInfo{})
		sub := &subscription{session: s, pattern: "t", exact: true}
		s.addLocked(sub)
		b.index(sub)
	}
	conn.frames.Store(0)
	return b, conn
}

// TestFanoutAllocsDoNotGrowWithSubscribers: one message to 100 or to
// 2,000 sessions costs the same allocations (the frame).
func TestFanoutAllocsDoNotGrowWithSubscribers(t *testing.T) {
	var allocs [2]float64
	for i, n := range []int{100, 2000} {
		b, conn := fanoutBroker(t, n)
		var seq uint64
		allocs[i] = testing.AllocsPerRun(50, func() {
			seq++
			b.HandleMessage(&Message{Topic: "t", Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
		})
		if got := conn.frames.Load(); got != int64(n)*51 {
			t.Fatalf("%d subscribers got %d frames", n, got)
		}
	}
	// 20 times the subscribers; one allocation of slack for the runtime's
	// own (the race detector's, a timer's) that land in a longer run.
	if allocs[1] > allocs[0]+1 {
		t.Errorf("allocations grow with subscribers: %v", allocs)
	}
}

// BenchmarkFanout fans a message out to n subscribers; "counted" with
// the deliveries per topic counted, as on a node of a cluster.
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		n       int
		counted bool
	}{{1_000, false}, {10_000, false}, {10_000, true}} {
		name := fmt.Sprint(bc.n)
		if bc.counted {
			name += "/counted"
		}
		n := bc.n
		b.Run(name, func(b *testing.B) {
			br, _ := fanoutBroker(b, n)
			if bc.counted {
				br.RestartDeliveryCounts()
			}
			b.ReportAllocs()
			m := &Message{Topic: "t", Epoch: "e", ID: "0b3e8f0e-6c1b-4f4e-9d7c-1f2e3d4c5b6a", Time: 1764074400123, Data: []byte(`{"text":"hi"}`)}
			for b.Loop() {
				m.Seq++
				br.HandleMessage(m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
