//go:build linux

package transport

import (
	"encoding/binary"
	"testing"
	"time"
)

// The reader lag is the lower median over distinct connections: an
// answered connection counts with its round trip, one with a probe out
// with that probe's age or its previous round trip, the larger; a
// minority of slow readers, even half of them, does not move it, one
// further behind than the stall window does not count, and too few
// connections give none.
func TestReaderLagIsTheMedianReader(t *testing.T) {
	ms := int64(time.Millisecond)
	watchFor, stall := 400*ms, 1000*ms
	now := monoNow() + int64(time.Hour)
	var p probes
	add := func(pr probe) {
		pr.c, pr.watched = &conn{live: true}, now-10*ms
		p.slots = append(p.slots, pr)
	}
	for i := range probeQuorum - 1 {
		add(probe{sent: now - 30*ms, rtt: int64(i+1) * ms}) // 1 to 7 ms
	}
	if lag := p.estimate(now, watchFor, stall); lag != 0 {
		t.Fatalf("lag %v from %d readers, want none", time.Duration(lag), probeQuorum-1)
	}
	add(probe{sent: now - 300*ms}) // out for 300 ms so far: behind by at least that
	if lag := p.estimate(now, watchFor, stall); lag != 4*ms {
		t.Fatalf("lag %v, want the lower median 4ms", time.Duration(lag))
	}
	add(probe{sent: now - 5*ms, rtt: 2 * stall}) // answered, but far behind: not counted
	if lag := p.estimate(now, watchFor, stall); lag != 4*ms {
		t.Fatalf("lag %v, want 4ms still", time.Duration(lag))
	}
	for range 6 {
		add(probe{sent: now - 5*ms, prev: 400 * ms}) // 400 ms behind when they last answered
	}
	if lag := p.estimate(now, watchFor, stall); lag != 7*ms { // 7 fast, 7 behind
		t.Fatalf("lag %v with half the readers behind, want 7ms", time.Duration(lag))
	}
	add(probe{sent: now - 5*ms, prev: 500 * ms})
	if lag := p.estimate(now, watchFor, stall); lag != 300*ms {
		t.Fatalf("lag %v with most readers behind, want 300ms", time.Duration(lag))
	}
}

// A reader's lag is its probe's round trip less the connection's
// baseline, its shortest round trip: a client far away that reads every
// frame at once is not behind, however long its path; one whose round
// trips grow past the baseline is behind by the difference, answered or
// not yet.
func TestReaderLagLeavesOutThePath(t *testing.T) {
	ms := int64(time.Millisecond)
	l, c, _ := pingPair(t)
	l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
	now := monoNow() + int64(time.Hour)
	path := 200 * ms // the network's round trip and the client's turnaround
	l.probes.slots = []probe{{c: c, watched: now, sent: now}}
	answer := func(after int64) int64 {
		s := &l.probes.slots[0]
		l.probeAnswered(c, binary.BigEndian.AppendUint64(nil, uint64(s.sent)), s.sent+after)
		return s.rtt
	}
	if lag := answer(path); lag > ms {
		t.Fatalf("first probe back after the path's %v: lag %v, want none", time.Duration(path), time.Duration(lag))
	}
	for i, behind := range []int64{0, 300 * ms, 40 * ms} {
		sent := now + int64(i+1)*time.Second.Nanoseconds()
		l.probes.slots[0] = probe{c: c, watched: now, sent: sent, prev: l.probes.slots[0].rtt}
		if lag := answer(path + behind); lag < behind || lag > behind+ms {
			t.Errorf("probe back after %v: lag %v, want %v", time.Duration(path+behind), time.Duration(lag), time.Duration(behind))
		}
	}
	// A probe still out counts with its age less the path's.
	sent := now + 10*time.Second.Nanoseconds()
	l.probes.slots[0] = probe{c: c, watched: sent, sent: sent}
	for i := range probeQuorum - 1 { // 3 readers under it and 4 over: it is the lower median
		rtt := 10 * ms
		if i >= 3 {
			rtt = 500 * ms
		}
		l.probes.slots = append(l.probes.slots, probe{c: &conn{live: true}, watched: sent, sent: sent - 5*ms, rtt: rtt})
	}
	at := sent + path + 150*ms
	if lag := l.probes.estimate(at, int64(time.Hour), int64(time.Hour)); lag != 150*ms {
		t.Fatalf("lag with the probe out for %v: %v, want 150ms (its age less the path)", time.Duration(at-sent), time.Duration(lag))
	}
}
