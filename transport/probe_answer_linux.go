//go:build linux

package transport

import (
	"encoding/binary"
	"time"
)

// The probes' answers (probe_linux.go): the pongs that give a watched
// connection its round trip, the probes left unanswered when watches
// end, which mark a connection that does not answer, and each
// connection's baseline round trip.

// missedProbe is the probe out when a watch ended.
type missedProbe struct {
	c            *conn
	sent, resent int64
	judged       bool // its connection was marked: kept so a late answer unmarks it
}

// end ends s's watch, remembering its probe if still out.
func (p *probes) end(s probe) {
	if s.rtt != 0 || !s.c.live {
		return
	}
	p.missed[p.nMissed%probeMissed] = missedProbe{c: s.c, sent: s.sent, resent: s.resent}
	p.nMissed++
}

// judgeMissed marks the connections whose remembered probe is still
// unanswered after stall, and forgets those gone. A marked one's probe
// stays remembered until newer ones push it out, so that a late answer
// can still unmark it.
func (p *probes) judgeMissed(now, stall int64) {
	for i := range p.missed {
		m := &p.missed[i]
		switch {
		case m.c == nil:
		case !m.c.live:
			*m = missedProbe{}
		case !m.judged && now-m.sent > stall:
			m.c.deafToProbes = true
			m.judged = true
		}
	}
}

// probeAnswered records the pong of c's probe; payload is the pong's.
// A payload that is no time the loop could have sent (0, which also
// stands for no ping sent again, or one still to come) answers nothing.
func (l *loop) probeAnswered(c *conn, payload []byte, now int64) {
	if len(payload) != 8 {
		return // a heartbeat's pong, or an unsolicited one
	}
	sent := int64(binary.BigEndian.Uint64(payload))
	if sent <= 0 || sent > now || c.answeredOpenPing(sent, now) {
		return
	}
	p := &l.probes
	for i := range p.slots {
		s := &p.slots[i]
		if s.c == c && s.rtt == 0 && (sent == s.sent || sent == s.resent) {
			s.sent, s.rtt = sent, max(now-sent-c.noteRoundTrip(now-sent), 1)
			p.heard(c)
			return
		}
	}
	for i := range p.missed {
		m := &p.missed[i]
		if m.c == c && (sent == m.sent || sent == m.resent) {
			p.heard(c) // answered late: a reader behind, not deaf
			return
		}
	}
}

// heard notes that c answered a probe: it is not deaf, whatever it left
// unanswered before (a client may answer only the latest of several
// pings, RFC 6455 section 5.5.3), so those probes are forgotten, lest
// they mark it again.
func (p *probes) heard(c *conn) {
	c.deafToProbes = false
	p.forget(c)
}

// forget drops the unanswered probes remembered for c.
func (p *probes) forget(c *conn) {
	for i := range p.missed {
		if p.missed[i].c == c {
			p.missed[i] = missedProbe{}
		}
	}
}

// A probe's round trip is the network's and the client's own turnaround
// as well as its reader's lag: a phone 200 ms away, reading every frame at
// once, would otherwise count as 200 ms behind, and a node serving far
// clients would hold publishers whenever it is busy. The kernel's TCP round
// trip does not see past a proxy in front of the node, so the baseline is
// the connection's own: the shortest round trip of its pings it ever
// answered. Its lag is the round trip less that.
//
// The first of those pings goes out as it opens, right behind its welcome
// (pingBaseline), while nothing else waits to be written to it: a node at
// full rate from its first second would otherwise take a connection's
// baseline from its first probe, already behind the frames of a busy
// reader, and under-count that reader's lag for good. Until that ping is
// answered, kindData holds its stamp with pendingBase set, so that no other
// pong sets the baseline in its place; a connection that never answers it
// takes its baseline from its first probe. Kept in 100 µs units in
// conn.kindData (0: none yet), up to 3.2 s, far longer than any network's
// round trip.

const (
	baseUnit    = int64(100 * time.Microsecond)
	pendingBase = 1 << 15 // kindData holds the stamp of the open ping, not a baseline
	stampSpan   = pendingBase * baseUnit
)

// pingBaseline queues a WebSocket connection's first ping, the one that
// sets its baseline, once its welcome is queued. Called before the loop
// takes c, which orders the stamp before any pong it reads.
func (s *Server) pingBaseline(c *conn) {
	if s.lagCfg.bound == 0 || c.sse {
		return
	}
	now := monoNow()
	c.kindData = pendingBase | stampOf(now)
	c.send(probeFrame(now), serverFrame)
}

// stampOf is what kindData keeps of the time an open ping was sent.
func stampOf(sent int64) uint16 { return uint16(sent/baseUnit) & (pendingBase - 1) }

// answeredOpenPing sets c's baseline if payload's time, sent, is that of
// its open ping, and says whether it was. The stamp keeps 15 bits of it:
// a pong within stampSpan of it that matches them is its answer.
func (c *conn) answeredOpenPing(sent, now int64) bool {
	if c.kindData != pendingBase|stampOf(sent) || now-sent >= stampSpan {
		return false
	}
	c.kindData = 0
	c.noteRoundTrip(now - sent)
	return true
}

// noteRoundTrip lowers c's baseline to rtt (nanoseconds) when it is
// shorter, and returns the baseline.
func (c *conn) noteRoundTrip(rtt int64) int64 {
	units := uint16(min(max(rtt/baseUnit, 1), pendingBase-1))
	if c.kindData == 0 || c.kindData&pendingBase != 0 || units < c.kindData {
		c.kindData = units
	}
	return c.baseRoundTrip()
}

// baseRoundTrip is c's baseline in nanoseconds; 0 before it has one.
func (c *conn) baseRoundTrip() int64 {
	if c.kindData&pendingBase != 0 {
		return 0
	}
	return int64(c.kindData) * baseUnit
}
