//go:build linux

package transport

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A watch ends after watchFor, answered or not, so that clients that do
// not answer cannot keep their slots; a probe left unanswered then marks
// its connection once it is stall old, unless it is answered late first.
// Connections gone or closing are dropped at once.
func TestReaderWatchesEnd(t *testing.T) {
	ms := int64(time.Millisecond)
	watchFor, stall := 400*ms, 1000*ms
	now := monoNow() + int64(time.Hour)
	var p probes
	answered := &conn{live: true}
	deaf := &conn{live: true}
	late := &conn{live: true}
	gone := &conn{live: false}
	closing := &conn{live: true}
	closing.code.Store(4000)
	recent := &conn{live: true}
	p.slots = []probe{
		{c: answered, watched: now - 500*ms, sent: now - 300*ms, rtt: 5 * ms},
		{c: deaf, watched: now - 500*ms, sent: now - 450*ms, resent: now - 200*ms},
		{c: late, watched: now - 500*ms, sent: now - 450*ms},
		{c: gone, watched: now - 10*ms, sent: now - 10*ms},
		{c: closing, watched: now - 10*ms, sent: now - 10*ms},
		{c: recent, watched: now - 20*ms, sent: now - 20*ms, rtt: 5 * ms},
	}
	p.estimate(now, watchFor, stall)
	if len(p.slots) != 1 || p.slots[0].c != recent {
		t.Fatalf("%d watches kept, want the recent one only", len(p.slots))
	}
	if deaf.deafToProbes || late.deafToProbes {
		t.Fatal("a connection was marked before its probe was stall old")
	}
	if slot, watched := p.slotFor(recent, now, watchFor); slot != 0 || !watched {
		t.Fatal("an answered connection does not keep its own slot")
	}
	p.slots[0].rtt = 0
	if slot, _ := p.slotFor(recent, now, watchFor); slot != -1 {
		t.Fatal("a connection whose probe is out got another")
	}
	l := &loop{probes: p}
	l.probeAnswered(late, binary.BigEndian.AppendUint64(nil, uint64(now-450*ms)), now)
	l.probes.estimate(now+stall, watchFor, stall)
	if !deaf.deafToProbes || late.deafToProbes || answered.deafToProbes {
		t.Fatal("only the connection that never answered is marked")
	}
	l.probeAnswered(deaf, binary.BigEndian.AppendUint64(nil, uint64(now-300*ms)), now+stall)
	if !deaf.deafToProbes {
		t.Fatal("a pong with a payload the loop never sent unmarked it")
	}
	l.probeAnswered(deaf, binary.BigEndian.AppendUint64(nil, uint64(now-200*ms)), now+stall)
	if deaf.deafToProbes {
		t.Fatal("its late answer to the probe it left did not unmark it")
	}
}

// With every slot watched, a new connection waits for a watch to end;
// then it takes the slot whose watch ended longest ago.
func TestReaderWatchesTurnOver(t *testing.T) {
	ms := int64(time.Millisecond)
	watchFor := 400 * ms
	now := monoNow() + int64(time.Hour)
	var p probes
	for i := range probeSlots {
		p.slots = append(p.slots, probe{c: &conn{live: true}, watched: now - int64(i)*ms, sent: now - int64(i)*ms})
	}
	newcomer := &conn{live: true}
	if slot, watched := p.slotFor(newcomer, now, watchFor); slot != -1 || watched {
		t.Fatal("a new connection got a slot while every watch is on")
	}
	p.slots[3].watched = now - watchFor - 2*ms
	p.slots[7].watched = now - watchFor - 5*ms
	if slot, _ := p.slotFor(newcomer, now, watchFor); slot != 7 {
		t.Fatalf("slot %d, want 7, the watch that ended longest ago", slot)
	}
}

// On a busy loop, a connection gets a probe ping behind its fan-out
// frames, in the same write, at most one at a time; its pong, read like
// any frame, gives the round trip, and a pong with a payload the loop did
// not send matches nothing.
func TestProbeRoundTrip(t *testing.T) {
	l, c, peer := pingPair(t)
	l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
	data := []byte("\x81\x02hi")
	buf := make([]byte, 64)
	queueFanned(c, data)
	l.flush(c) // a quiet loop probes nobody
	if n, _ := unix.Read(peer, buf); n != len(data) || len(l.probes.slots) != 0 {
		t.Fatalf("a quiet loop sent a probe (%d bytes read)", n)
	}
	keepBusy(&l.probes)
	queueFanned(c, data)
	l.flush(c)
	n, err := unix.Read(peer, buf)
	if err != nil || n != len(data)+10 || !bytes.Equal(buf[:len(data)], data) || buf[len(data)] != 0x89 || buf[len(data)+1] != 8 {
		t.Fatalf("peer read % x, %v; want the frame then a ping with 8 bytes", buf[:max(n, 0)], err)
	}
	payload := append([]byte(nil), buf[len(data)+2:n]...)
	if len(l.probes.slots) != 1 || l.probes.slots[0].c != c {
		t.Fatal("the probe is not recorded")
	}
	queueFanned(c, data)
	l.probes.next = 0
	l.flush(c)
	if n, _ := unix.Read(peer, buf); n != len(data) {
		t.Fatalf("a second probe went out while the first is unanswered (%d bytes read)", n)
	}
	wrong := binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(payload)+1)
	c.onPong(wrong)
	c.onPong(nil) // a heartbeat's
	if l.probes.slots[0].rtt != 0 {
		t.Fatal("a pong with another payload answered the probe")
	}
	c.onPong(payload)
	if rtt := l.probes.slots[0].rtt; rtt <= 0 {
		t.Fatalf("round trip %d after the pong", rtt)
	}
}

// A probe is never worth a close: it is not queued where it would cross
// the queue bound, nor behind nothing.
func TestProbeNeverOverflowsTheQueue(t *testing.T) {
	_, c, _ := pingPair(t)
	c.lim.maxQueue = 20
	if queued, _ := c.queueProbe(probeFrame(1), 0); queued {
		t.Fatal("a probe was queued behind nothing")
	}
	queueOnly(c, make([]byte, 15))
	if queued, _ := c.queueProbe(probeFrame(1), 1); queued || c.isClosing() {
		t.Fatal("a probe crossed the queue bound")
	}
}

// queueOnly queues frame on c without telling its loop, which the test
// flushes itself.
func queueOnly(c *conn, frame []byte) {
	if res, _ := c.queue(frame, false); res != taken {
		panic("frame not queued")
	}
}

// queueFanned is queueOnly for a frame of a broker fan-out, as
// SendDeferred queues it.
func queueFanned(c *conn, frame []byte) {
	if res, _ := c.queueAt(frame, false, 0, fannedFrame); res != taken {
		panic("frame not queued")
	}
}

// keepBusy makes p's loop busy until the test ends, as if every lag tick
// carried many fan-out frames.
func keepBusy(p *probes) { p.busy, p.tickEnd = true, math.MaxInt64 }

// An answered watched connection with nothing to write is pinged again
// only while its loop's readers are behind the bound (or publishers
// wait): within it, its last round trip stands, and pinging every idle
// reader each tick would cost a write for nothing.
func TestIdleReadersArePingedOnlyWhileBehind(t *testing.T) {
	l, c, peer := pingPair(t)
	l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
	ls := &l.srv.lagCfg
	data := []byte("\x81\x02hi")
	buf := make([]byte, 64)
	keepBusy(&l.probes)
	queueFanned(c, data)
	l.flush(c)
	n, err := unix.Read(peer, buf)
	if err != nil || n != len(data)+10 {
		t.Fatalf("peer read %d bytes, %v; want the frame and a probe", n, err)
	}
	c.onPong(append([]byte(nil), buf[len(data)+2:n]...))
	if l.probes.slots[0].rtt == 0 {
		t.Fatal("the probe was not answered")
	}
	later := l.probes.slots[0].sent + l.probes.slots[0].rtt + 2*ls.tick
	for _, tc := range []struct {
		name    string
		readers int64 // the loop's readers stamp; 0: no estimate
		pinged  bool
	}{
		{"no estimate", 0, false},
		{"within the bound", later - ls.bound/2, false},
		{"behind the bound", later - 2*ls.bound, true},
	} {
		l.lag.readers.Store(tc.readers)
		l.reprobe(later)
		n, _ := unix.Read(peer, buf)
		if got := n == 10 && buf[0] == 0x89; got != tc.pinged {
			t.Errorf("%s: peer read %d bytes, pinged %v; want pinged %v", tc.name, max(n, 0), got, tc.pinged)
		}
	}
}

// Only writes that carry fan-out frames are probed, and only fan-out
// frames make a loop busy: a client's replies, pongs and the like do
// neither, however many.
func TestOnlyFanoutWritesAreProbed(t *testing.T) {
	l, c, peer := pingPair(t)
	l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
	reply := []byte("\x81\x02ok")
	buf := make([]byte, 4096)
	for range 2 * probeBusy {
		queueOnly(c, reply)
	}
	l.flush(c)
	l.probes.fanned(0, monoNow()+1, l.srv.lagCfg.tick) // the next tick begins
	if l.probes.busy {
		t.Fatalf("%d replies in a lag tick made the loop busy", 2*probeBusy)
	}
	keepBusy(&l.probes)
	queueOnly(c, reply)
	l.flush(c)
	if n, _ := unix.Read(peer, buf); n != (2*probeBusy+1)*len(reply) || len(l.probes.slots) != 0 {
		t.Fatalf("a write of replies took a probe (%d bytes read, %d watched)", n, len(l.probes.slots))
	}
	queueOnly(c, reply)
	queueFanned(c, reply)
	l.flush(c)
	if n, _ := unix.Read(peer, buf); n != 2*len(reply)+10 || len(l.probes.slots) != 1 || l.probes.frames != 2 {
		t.Fatalf("a write with a fan-out frame: %d bytes read, %d watched, %d frames counted; want a probe and 2", n, len(l.probes.slots), l.probes.frames)
	}
}

// A new watch goes to a candidate picked at random, wherever it stands
// in its fan-out: here each pass over 100 candidates in one order begins
// with a slot free, as after a lag tick that ended a watch, and the
// first 20 of them must not get much more than their fifth of the picks.
func TestNewWatchesArePickedAtRandom(t *testing.T) {
	const candidates, first, passes = 100, 20, 2000
	p := probes{span: candidates}
	picks := 0
	for range passes {
		for i := range candidates {
			if p.picked(0) {
				if i < first {
					picks++
				}
				break
			}
		}
	}
	if share := float64(picks) / passes; share > 0.3 {
		t.Fatalf("the first %d of %d candidates got %.0f%% of the watches", first, candidates, 100*share)
	}
}
