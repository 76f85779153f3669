//go:build linux

package transport

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport/internal/netpoll"
)

func TestLoopIgnoresEventsOfAFormerSlotOwner(t *testing.T) {
	l := &loop{}
	old := &conn{fd: 9}
	l.insert(old)
	oldGen, oldSlot := old.gen, old.slot
	l.conns[old.slot] = nil // dropped: its slot is free for the next one
	l.free = append(l.free, old.slot)
	cur := &conn{fd: 9}
	l.insert(cur)
	if cur.slot != oldSlot {
		t.Fatalf("the new connection took slot %d, not the free %d", cur.slot, oldSlot)
	}
	if got := l.lookup(oldSlot, oldGen); got != nil {
		t.Fatal("an event for the former owner reached the new connection")
	}
	if got := l.lookup(cur.slot, cur.gen); got != cur {
		t.Fatal("an event for the current connection was lost")
	}
	if got := l.lookup(100000, cur.gen); got != nil {
		t.Fatal("lookup beyond the table found a connection")
	}
}

// The table holds a loop's own connections, however high the process's
// descriptor numbers run.
func TestLoopTableIsDense(t *testing.T) {
	l := &loop{}
	for i := range 100 {
		l.insert(&conn{fd: int32(50_000 + 7*i)})
	}
	if len(l.conns) != 100 {
		t.Fatalf("%d slots for 100 connections", len(l.conns))
	}
}

// newTestLoop is a loop with a poller and no goroutine: the test plays
// its part.
func newTestLoop(t *testing.T) *loop {
	t.Helper()
	p, err := netpoll.New(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &loop{poller: p}
}

var testLimits = &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}

// TestDeferredSendHandsOverAtFlush: a fan-out's connections reach the
// pending list together at Flush, each once, with one wake-up per loop
// and the list stamped no later than the first frame was queued.
func TestDeferredSendHandsOverAtFlush(t *testing.T) {
	loops := []*loop{newTestLoop(t), newTestLoop(t)}
	a, b := newConn(loops[0], testLimits), newConn(loops[0], testLimits)
	other := newConn(loops[1], testLimits)
	var batch broker.Batch
	before := monoNow()
	firstQueued := map[*loop]int64{} // each loop's first frame was queued by then
	for _, c := range []*conn{a, other, b, a} {
		if !c.SendDeferred([]byte{0x81, 0}, &batch) {
			t.Fatal("SendDeferred refused a frame")
		}
		if l := c.drv.(*loop); firstQueued[l] == 0 {
			firstQueued[l] = monoNow()
		}
	}
	if n := len(batch.Flushers()); n != 2 {
		t.Fatalf("%d flushers for two loops", n)
	}
	for i, l := range loops {
		if len(l.pending) != 0 || l.poller.WakePending() || l.lag.pending.Load() != 0 {
			t.Fatalf("loop %d: %d pending, woken %v before Flush", i, len(l.pending), l.poller.WakePending())
		}
	}
	batch.Flush()
	if got := loops[0].pending; len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("loop 0 pending %v, want a and b once each", got)
	}
	if got := loops[1].pending; len(got) != 1 || got[0] != other {
		t.Fatalf("loop 1 pending %v, want the other connection", got)
	}
	for i, l := range loops {
		if !l.poller.WakePending() {
			t.Errorf("loop %d: Flush did not wake it", i)
		}
		if st := l.lag.pending.Load(); st < before || st > firstQueued[l] {
			t.Errorf("loop %d: pending stamped at %d, not within [%d, %d] when its first frame was queued", i, st, before, firstQueued[l])
		}
	}
	if len(batch.Flushers()) != 0 {
		t.Error("Flush left the batch's flushers")
	}
}

// TestDeferredFlushKeepsTheOlderStamp: a batch begun before the pending
// list went non-empty stamps the list with its own start on Flush.
func TestDeferredFlushKeepsTheOlderStamp(t *testing.T) {
	l := newTestLoop(t)
	early, late := newConn(l, testLimits), newConn(l, testLimits)
	var batch broker.Batch
	early.SendDeferred([]byte{0x81, 0}, &batch)
	begun := monoNow()
	for monoNow() == begun {
	}
	late.Send([]byte{0x81, 0}) // wakes the loop, stamping the list now
	listed := l.lag.pending.Load()
	if listed < begun {
		t.Fatalf("schedule stamped %d before %d", listed, begun)
	}
	batch.Flush()
	if st := l.lag.pending.Load(); st >= begun {
		t.Errorf("stamp %d after Flush, want the batch's, before %d", st, begun)
	}
	if len(l.pending) != 2 {
		t.Errorf("%d pending, want 2", len(l.pending))
	}
}

// TestDeferredFlushToAStoppedLoop: a loop that exited takes nothing.
func TestDeferredFlushToAStoppedLoop(t *testing.T) {
	l := newTestLoop(t)
	c := newConn(l, testLimits)
	var batch broker.Batch
	c.SendDeferred([]byte{0x81, 0}, &batch)
	l.exited = true
	batch.Flush()
	if len(l.pending) != 0 || l.poller.WakePending() {
		t.Errorf("an exited loop got %d pending, woken %v", len(l.pending), l.poller.WakePending())
	}
}

// TestDeferredSendStampsFromFewClockReads: a batch stamps its frames'
// queues from one clock reading per stampEvery frames, each taken before
// the frames it stamps were queued.
func TestDeferredSendStampsFromFewClockReads(t *testing.T) {
	l := newTestLoop(t)
	conns := make([]*conn, 3*stampEvery)
	for i := range conns {
		conns[i] = newConn(l, testLimits)
	}
	var batch broker.Batch
	stamps := map[int64]bool{}
	for _, c := range conns {
		before := monoNow()
		c.SendDeferred([]byte{0x81, 0}, &batch)
		since := c.since.Load()
		if since == 0 || since > monoNow() || since < before-int64(time.Second) {
			t.Fatalf("queue stamped %d, queued between %d and now", since, before)
		}
		stamps[since] = true
	}
	if len(stamps) > len(conns)/stampEvery+1 {
		t.Errorf("%d clock readings for %d frames, want at most %d", len(stamps), len(conns), len(conns)/stampEvery+1)
	}
	batch.Flush()
	if len(l.pending) != len(conns) {
		t.Errorf("%d pending, want %d", len(l.pending), len(conns))
	}
}
