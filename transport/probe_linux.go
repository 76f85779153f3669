//go:build linux

package transport

import (
	"encoding/binary"
	"slices"
)

// Reader lag: how far behind the subscribers' readers are. A frame the
// loop wrote has left the queue, but not the machine: the socket's send
// buffer and the peer's receive buffer hold megabytes between them, and a
// load generator or a browser that reads slower than the loops write
// leaves seconds of messages there, out of the queue lag's sight (at
// 1,000 subscribers and maximum rate, 400 KB a connection and p99 over
// 2 s, BENCHMARKS.md). Only the client knows when it read a frame, and a
// WebSocket client says so by itself: it answers a ping when its reader
// reaches it (RFC 6455 section 5.5.2). So the loop sends a probe, a ping
// whose payload is the time it was queued, behind the frames of a busy
// connection now and then; the pong's round trip is the time the probe's
// frames took to be read, kernel buffers included.
//
// A loop keeps up to probeSlots connections under watch and pings each
// again, once the last ping was answered, at its next write a lag tick
// later; a connection joins when a slot is free or answered longest ago,
// so the sample turns over. The reader lag is the median over them. A
// connection's lag is its last round trip, the reader was reading frames
// that old when it answered, until its next probe is answered; a probe
// not answered yet counts with its age so far, so readers seconds behind
// are seen before they answer. While publishers wait, connections with
// nothing to write are pinged too, so that a reader that caught up says
// so without a message to carry the ping.
//
// Who cannot hold publishers back:
//   - a minority of slow readers: the median of distinct connections,
//     not the largest, over probeQuorum of them at least; theirs is the
//     queue bound and close 4000, as before (lag.go);
//   - a reader more than stallAfter (ten bounds) behind, or one that does
//     not answer pings (RFC 6455 requires it to): a probe out that long
//     drops out of the sample, and its connection is not probed again
//     until it answers one. So a client, or an attacker's many clients,
//     reading slowly holds publishers for one stall window at most each
//     time it is watched.
//
// Probes go out only while a loop writes at least probeBusy frames a lag
// tick: a quiet node, where readers cannot be far behind, pings nobody
// more than its heartbeat. Cost: one 10-byte ping in a write that is made
// anyway, and one pong to read, per probe; at most probeSlots watched
// connections a loop, each pinged once a lag tick at most.

const (
	probeSlots    = 32 // probes a loop keeps: the distinct connections the median is over
	probeQuorum   = 8  // fewer connections sampled than this: no reader lag
	probesPerTick = 4  // connections a loop starts to watch per lag tick, at most
	probeKeep     = 4  // an answer counts for this many bounds; then the reader counts as caught up
	probeBusy     = 64 // frames a loop writes in a lag tick for its readers to be probed
)

// probe is one probe ping and what came of it.
type probe struct {
	c      *conn
	sent   int64 // monotonic time it was queued, its payload
	resent int64 // the payload of the latest ping sent again for it; 0: none
	rtt    int64 // 0 while unanswered
	prev   int64 // the round trip of the connection's previous probe; 0: none
}

// probes is a loop's probe table, touched by the loop goroutine only.
type probes struct {
	slots   []probe
	next    int64 // no new connection watched before this monotonic time
	ages    []int64
	frames  int  // frames written in this lag tick
	busy    bool // the last lag tick wrote probeBusy frames or more
	tickEnd int64
}

// wrote counts n frames written at now, and starts a new lag tick when
// this one is over.
func (p *probes) wrote(n int, now, tick int64) {
	p.frames += n
	if now >= p.tickEnd {
		p.busy = p.frames >= probeBusy
		p.frames, p.tickEnd = 0, now+tick
	}
}

// maybeProbe queues a probe ping behind c's frames when one is due and c
// can answer one. Called by the loop's flush before c's first write.
func (l *loop) maybeProbe(c *conn, now int64) {
	ls := &l.srv.lagCfg
	if ls.bound == 0 || !l.probes.busy || c.sse || c.deafToProbes {
		return
	}
	slot, watched := l.probes.slotFor(c)
	switch {
	case slot < 0:
		return
	case watched && now-l.probes.slots[slot].sent < ls.tick:
		return // pinged a moment ago
	case !watched && now < l.probes.next:
		return
	}
	if !c.queueProbe(probeFrame(now)) {
		return
	}
	pr := probe{c: c, sent: now}
	if watched {
		pr.prev = l.probes.slots[slot].rtt
	}
	l.probes.put(slot, pr)
	if !watched {
		l.probes.next = now + ls.tick/probesPerTick
	}
}

// slotFor returns where a probe of c goes, and whether c is watched
// already: c's own slot when its last probe was answered (one slot per
// connection), a new one, or the one answered longest ago; -1 when c's
// probe is still out, or c is not watched and every slot's is.
func (p *probes) slotFor(c *conn) (slot int, watched bool) {
	oldest := -1
	for i, s := range p.slots {
		if s.c == c {
			if s.rtt == 0 {
				return -1, true
			}
			return i, true
		}
		if s.rtt != 0 && (oldest < 0 || s.sent < p.slots[oldest].sent) {
			oldest = i
		}
	}
	if len(p.slots) < probeSlots {
		return len(p.slots), false // a new slot: put appends it
	}
	return oldest, false
}

// put records pr at slot, as slotFor returned it.
func (p *probes) put(slot int, pr probe) {
	if slot == len(p.slots) {
		p.slots = append(p.slots, pr)
		return
	}
	p.slots[slot] = pr
}

// probeAnswered records the pong of c's probe; payload is the pong's.
func (l *loop) probeAnswered(c *conn, payload []byte, now int64) {
	if len(payload) != 8 {
		return // a heartbeat's pong, or an unsolicited one
	}
	sent := int64(binary.BigEndian.Uint64(payload))
	if c.deafToProbes {
		c.deafToProbes = false // it answers: it may be watched again
		return
	}
	for i := range l.probes.slots {
		s := &l.probes.slots[i]
		if s.c == c && s.rtt == 0 && (sent == s.sent || sent == s.resent) {
			s.rtt = max(now-sent, 1)
			return
		}
	}
}

// reprobe pings the watched connections that no write will ping soon,
// even with nothing queued:
//   - those whose probe is out for longer than the bound, with a fresh
//     payload: a client may answer only the latest of several pings (RFC
//     6455 section 5.5.3), and one whose pong was lost would otherwise
//     count as behind, with no message coming to carry another probe,
//     while publishers wait for it. A reader that is behind answers the
//     first probe first, and is judged by it.
//   - while publishers wait, those answered more than a tick ago: their
//     last round trip says they were behind, and with publishers held no
//     message comes to carry the ping that would say they caught up.
func (l *loop) reprobe(now int64) {
	ls := &l.srv.lagCfg
	waiters := l.srv.gate.waiting.Load() > 0
	for i := range l.probes.slots {
		s := &l.probes.slots[i]
		if !s.c.live {
			continue
		}
		lost := s.rtt == 0 && now-max(s.sent, s.resent) > ls.bound
		stale := s.rtt != 0 && waiters && now-(s.sent+s.rtt) > ls.tick
		if !lost && !stale {
			continue
		}
		queued, wake := s.c.queueProbeIdle(probeFrame(now))
		if !queued {
			continue
		}
		if lost {
			s.resent = now
		} else {
			*s = probe{c: s.c, sent: now, prev: s.rtt}
		}
		if wake {
			l.flush(s.c)
		}
	}
}

// estimate returns the reader lag at now (0: too few samples): the median
// of the connections' lags. One answered longer than keep ago counts as
// caught up: nothing written to it since needed a probe, and it stays in
// the sample, so that when traffic stops the slow readers, still reading,
// do not become the median; one more than stall behind is not counted.
// It drops the connections gone and those with a probe unanswered for
// stall, which are not probed again until they answer.
func (p *probes) estimate(now, keep, stall int64) int64 {
	kept := p.slots[:0]
	p.ages = p.ages[:0]
	for _, s := range p.slots {
		age := now - s.sent
		sinceAnswer := age - s.rtt
		switch {
		case !s.c.live:
			continue
		case s.rtt == 0 && age > stall:
			s.c.deafToProbes = true
			continue
		}
		kept = append(kept, s)
		lag := int64(0)
		switch {
		case s.rtt == 0:
			lag = max(age, s.prev)
		case sinceAnswer <= keep:
			lag = s.rtt
		}
		if lag <= stall { // further behind: left to its queue bound
			p.ages = append(p.ages, lag)
		}
	}
	clear(p.slots[len(kept):])
	p.slots = kept
	if len(p.ages) < probeQuorum {
		return 0
	}
	slices.Sort(p.ages)
	return p.ages[len(p.ages)/2]
}

// probeFrame is a ping whose 8-byte payload is sent (RFC 6455 section
// 5.5.2: unmasked, from the server).
func probeFrame(sent int64) []byte {
	f := make([]byte, 10)
	f[0], f[1] = 0x80|0x9, 8 // FIN, ping; length 8
	binary.BigEndian.PutUint64(f[2:], uint64(sent))
	return f
}

// active says whether the loop has probes to estimate from.
func (p *probes) active() bool { return len(p.slots) > 0 }
