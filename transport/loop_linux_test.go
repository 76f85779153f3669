//go:build linux

package transport

import (
	"testing"

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

// TestDeferredSendWakesTheLoopOnlyAtFlush: a fan-out's frames go on the
// pending list without a wake-up each; the one Flush wakes the loop, and a
// connection already pending is listed once.
func TestDeferredSendWakesTheLoopOnlyAtFlush(t *testing.T) {
	p, err := netpoll.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := &loop{poller: p}
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}
	a, b := newConn(l, lim), newConn(l, lim)
	var flushers []broker.Flusher
	for _, c := range []*conn{a, b, a} {
		ok, f := c.SendDeferred([]byte{0x81, 0})
		if !ok {
			t.Fatal("SendDeferred refused a frame")
		}
		if f != nil {
			flushers = append(flushers, f)
		}
	}
	if len(l.pending) != 2 || len(flushers) != 2 {
		t.Fatalf("pending %d, flushers %d; want each connection once", len(l.pending), len(flushers))
	}
	if p.WakePending() {
		t.Fatal("the loop was woken before Flush")
	}
	flushers[0].Flush()
	if !p.WakePending() {
		t.Fatal("Flush did not wake the loop")
	}
}
