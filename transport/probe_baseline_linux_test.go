//go:build linux

package transport

import (
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Readers that are behind from the first frame they get are seen behind:
// each connection's baseline comes from the ping of its opening, answered
// while nothing else was queued, not from its first probe, which already
// waits behind frames its reader has not reached. Here every subscriber
// answers its probes 800 ms late, as one 800 ms behind does, and the
// fan-out runs from the start: publishers must wait.
func TestReadersBehindFromTheStartHoldPublishers(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	const readers = 32
	for range readers {
		lateReader(t, ts.addr, 800*time.Millisecond, false, stop, &wg)
	}
	eventually(t, "every reader is open", func() bool { return len(ts.acc.all()) == readers })
	var conns []broker.Conn
	for _, s := range ts.acc.all() {
		conns = append(conns, s.c)
	}
	fanOutEvery(10*time.Millisecond, conns, stop, &wg)
	const span = 3 * time.Second
	waited, refused := publishFor(ts.srv, span)
	if waited < span/3 && refused == 0 {
		t.Fatalf("every subscriber 800 ms behind held publishers for %v of %v only", waited.Round(time.Millisecond), span)
	}
}
