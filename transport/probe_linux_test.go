//go:build linux

package transport

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The reader lag is the median over distinct connections: an answered
// connection counts with its round trip, one with a probe out with that
// probe's age or its previous round trip, the larger; a minority of slow
// readers does not move it, one further behind than the stall window does
// not count, and too few connections give none.
func TestReaderLagIsTheMedianReader(t *testing.T) {
	ms := int64(time.Millisecond)
	keep, stall := 400*ms, 1000*ms
	now := monoNow() + int64(time.Hour)
	var p probes
	add := func(pr probe) {
		pr.c = &conn{live: true}
		p.slots = append(p.slots, pr)
	}
	for i := range probeQuorum - 1 {
		add(probe{sent: now - 30*ms, rtt: int64(i+1) * ms}) // 1 to 7 ms
	}
	if lag := p.estimate(now, keep, stall); lag != 0 {
		t.Fatalf("lag %v from %d readers, want none", time.Duration(lag), probeQuorum-1)
	}
	add(probe{sent: now - 300*ms}) // out for 300 ms so far: behind by at least that
	if lag := p.estimate(now, keep, stall); lag != 5*ms {
		t.Fatalf("lag %v, want the median 5ms", time.Duration(lag))
	}
	add(probe{sent: now - 2*stall, rtt: 2 * stall}) // answered, but far behind: not counted
	if lag := p.estimate(now, keep, stall); lag != 5*ms {
		t.Fatalf("lag %v, want 5ms still", time.Duration(lag))
	}
	for range 7 {
		add(probe{sent: now - 5*ms, prev: 400 * ms}) // 400 ms behind when they last answered
	}
	if lag := p.estimate(now, keep, stall); lag != 300*ms {
		t.Fatalf("lag %v with most readers behind, want 300ms", time.Duration(lag))
	}
}

// A connection gone and one with a probe unanswered for stall, which is
// not probed again, are dropped; one answered longer than keep ago stays,
// counted as caught up.
func TestReaderLagForgets(t *testing.T) {
	ms := int64(time.Millisecond)
	keep, stall := 200*ms, 1000*ms
	now := monoNow() + int64(time.Hour)
	var p probes
	old := &conn{live: true}
	gone := &conn{live: false}
	deaf := &conn{live: true}
	recent := &conn{live: true}
	p.slots = []probe{
		{c: old, sent: now - 300*ms, rtt: 50 * ms}, // answered 250 ms ago
		{c: gone, sent: now - 10*ms},
		{c: deaf, sent: now - stall - 1},
		{c: recent, sent: now - 20*ms, rtt: 5 * ms},
	}
	p.slots = append(p.slots, probe{c: &conn{live: true}, sent: now - 1000*ms})
	p.estimate(now, keep, stall)
	if len(p.slots) != 3 || p.slots[0].c != old || p.slots[1].c != recent {
		t.Fatalf("%d probes kept, want the old, the recent and the one out", len(p.slots))
	}
	if !deaf.deafToProbes || old.deafToProbes || recent.deafToProbes {
		t.Fatal("only the connection that left its probe unanswered is not probed again")
	}
	if slot, watched := p.slotFor(recent); slot != 1 || !watched {
		t.Fatal("an answered connection does not keep its own slot")
	}
	p.slots[1].rtt = 0
	if slot, _ := p.slotFor(recent); slot != -1 {
		t.Fatal("a connection whose probe is out got another")
	}
}

// On a busy loop, a connection gets a probe ping behind its frames, at
// most one at a time; its pong, read like any frame, gives the round trip, and a pong
// with a payload the loop did not send matches nothing.
func TestProbeRoundTrip(t *testing.T) {
	l, c, peer := pingPair(t)
	l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
	data := []byte("\x81\x02hi")
	buf := make([]byte, 64)
	queueOnly(c, data)
	l.flush(c) // a quiet loop probes nobody
	if n, _ := unix.Read(peer, buf); n != len(data) || len(l.probes.slots) != 0 {
		t.Fatalf("a quiet loop sent a probe (%d bytes read)", n)
	}
	l.probes.busy = true
	queueOnly(c, data)
	l.flush(c)
	n, err := unix.Read(peer, buf)
	if err != nil || n != len(data)+10 || !bytes.Equal(buf[:len(data)], data) || buf[len(data)] != 0x89 || buf[len(data)+1] != 8 {
		t.Fatalf("peer read % x, %v; want the frame then a ping with 8 bytes", buf[:max(n, 0)], err)
	}
	payload := append([]byte(nil), buf[len(data)+2:n]...)
	if len(l.probes.slots) != 1 || l.probes.slots[0].c != c {
		t.Fatal("the probe is not recorded")
	}
	queueOnly(c, data)
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
	if c.queueProbe(probeFrame(1)) {
		t.Fatal("a probe was queued behind nothing")
	}
	queueOnly(c, make([]byte, 15))
	if c.queueProbe(probeFrame(1)) || c.isClosing() {
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
