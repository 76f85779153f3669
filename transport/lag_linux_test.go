//go:build linux

package transport

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/transport/internal/netpoll"
)

// The scan counts a connection waiting for room in its socket, with the
// age its oldest frame had when it last moved, while its reader keeps
// taking bytes, and forgets one that stopped (left to its queue bound),
// one drained and one gone.
func TestScanCountsOnlyConnectionsThatMakeProgress(t *testing.T) {
	const bound = 100 * time.Millisecond
	l := &loop{srv: &Server{lagCfg: newLagSettings(bound)}}
	now := monoNow() + int64(time.Hour)
	waiting := func(since, progress int64, live bool) *conn {
		c := &conn{live: live, progress: progress}
		c.since.Store(since)
		l.block(c)
		return c
	}
	reading := waiting(now-int64(3*bound), now-int64(bound/10), true) // behind, but reads
	younger := waiting(now-int64(bound/2), now-int64(bound/10), true)
	stopped := waiting(now-int64(5*bound), now-int64(5*bound), true)           // stopped reading as it blocked
	stuck := waiting(now-int64(20*bound), now-int64(waitFactor*bound)-1, true) // silent for a whole wait
	drained := waiting(0, now, true)
	gone := waiting(now-int64(20*bound), now, false)
	l.block(reading) // listed once however often it blocks
	l.scanBlocked(now)
	// The reading one's oldest frame was 2.9 bounds old when it last moved.
	if lag := now - l.lag.blocked.Load(); lag != int64(3*bound-bound/10) {
		t.Fatalf("blocked lag %v, want %v", time.Duration(lag), 3*bound-bound/10)
	}
	if len(l.blocked) != 3 || !reading.blocked || !younger.blocked || !stopped.blocked {
		t.Fatalf("%d connections kept, want the 3 that moved lately", len(l.blocked))
	}
	for _, c := range []*conn{stuck, drained, gone} {
		if c.blocked {
			t.Fatal("a connection that does not count is still listed")
		}
	}
	reading.since.Store(0)
	younger.since.Store(0)
	l.scanBlocked(now)
	if len(l.blocked) != 1 || now-l.lag.blocked.Load() != 0 {
		t.Fatal("one that stopped reading as it blocked adds to the lag")
	}
	stopped.since.Store(0)
	l.scanBlocked(now)
	if len(l.blocked) != 0 || l.lag.blocked.Load() != 0 {
		t.Fatal("drained connections left a stamp")
	}
}

// The pending list is stamped when it goes non-empty; the stamp moves to
// the pass that writes the list and is gone when the pass is done.
func TestPendingStampFollowsThePass(t *testing.T) {
	p, err := netpoll.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := &loop{poller: p, srv: &Server{lagCfg: newLagSettings(time.Second)}}
	before := monoNow()
	l.schedule(&conn{})
	first := l.lag.pending.Load()
	if first < before {
		t.Fatalf("pending stamp %d, want one taken at schedule (after %d)", first, before)
	}
	l.schedule(&conn{})
	if l.lag.pending.Load() != first {
		t.Fatal("a second connection moved the stamp")
	}
	l.flushPending() // the connections are not registered: nothing is written
	if l.lag.pending.Load() != 0 || l.lag.pass.Load() != 0 {
		t.Fatal("a finished pass left a stamp")
	}
}
