package transport

import (
	"runtime"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkIdleConn reports the heap one idle connection costs the
// transport once its welcome went out and a sweep passed: the conn alone.
func BenchmarkIdleConn(b *testing.B) {
	const n = 10_000
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1 << 40}
	welcome := ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"welcome"}`)))
	b.ReportAllocs()
	var perConn float64
	for b.Loop() {
		conns := make([]*conn, n)
		before := liveHeap()
		for i := range conns {
			c := newConn(nopDriver{}, lim)
			c.Send(welcome)
			c.written(len(welcome))
			conns[i] = c
		}
		for range 2 { // busy in the first sweep, idle in the second
			for _, c := range conns {
				c.sweep(monoNow(), false)
			}
		}
		perConn = float64(liveHeap()-before) / n
		runtime.KeepAlive(conns)
	}
	b.ReportMetric(perConn, "heap-bytes/conn")
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
