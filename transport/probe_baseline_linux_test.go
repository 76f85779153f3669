//go:build linux

package transport

import (
	"context"
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

// Only the answer to a connection's open ping sets its baseline from
// that ping: a pong with another time, or one that came back after the
// stamp's span (whose 15 bits would match again), sets nothing; until
// then the connection has no baseline, and a probe's answer may set it.
func TestOpenPingAnswerSetsTheBaseline(t *testing.T) {
	ms := int64(time.Millisecond)
	sent := monoNow() + int64(time.Hour)
	open := func() *conn {
		c := &conn{}
		c.kindData = pendingBase | stampOf(sent)
		return c
	}
	c := open()
	if c.answeredOpenPing(sent+ms, sent+2*ms) || c.baseRoundTrip() != 0 {
		t.Fatal("a pong with another time was taken for the open ping's")
	}
	if c.answeredOpenPing(sent, sent+stampSpan) || c.baseRoundTrip() != 0 {
		t.Fatal("a pong a whole stamp span late was taken for the open ping's")
	}
	if !c.answeredOpenPing(sent, sent+3*ms) || c.baseRoundTrip() != 3*ms {
		t.Fatalf("the open ping's answer gave a baseline of %v, want 3ms", time.Duration(c.baseRoundTrip()))
	}
	if c.answeredOpenPing(sent, sent+ms) {
		t.Fatal("the open ping was answered twice")
	}
	if c.noteRoundTrip(5*ms) != 3*ms || c.noteRoundTrip(2*ms) != 2*ms {
		t.Fatal("a probe's round trip does not only lower the baseline")
	}
	c = open()
	if c.noteRoundTrip(40*ms) != 40*ms {
		t.Fatal("a probe answered before the open ping set no baseline")
	}
}

// publishFor publishes, as far as Wait goes, every 5 ms for d and returns
// how long the publishes waited in all and how many were refused.
func publishFor(srv *Server, d time.Duration) (waited time.Duration, refused int) {
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		if err := srv.Wait(context.Background(), "t"); err != nil {
			refused++
		}
		waited += time.Since(t0)
		time.Sleep(5 * time.Millisecond)
	}
	return waited, refused
}
