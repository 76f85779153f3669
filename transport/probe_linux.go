//go:build linux

package transport

import (
	"encoding/binary"
	"math/rand/v2"
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
// A loop keeps up to probeSlots connections under watch, each for
// probeWatch bounds, then gives its slot to another: the sample is the
// connections the fan-out wrote to lately, whoever answers and whoever
// does not, so a few clients cannot fill it by never answering. Only
// writes that carry fan-out frames (messages, presence changes: what the
// broker queues through a fan-out batch, conn.fanned) are probed and
// count toward a busy loop: a client that only sends commands gets
// replies, pongs and other frames of its own, which neither make the
// loop busy nor get it watched. A new watch goes to a candidate (a
// fan-out write to a connection not watched) picked at random: once a
// slot is free the loop passes over a random number of candidates, up
// to as many as its largest pass over them lately, and watches the
// next. Picking the first candidate instead would watch the first
// subscribers of a topic, in the order they subscribed, again and again.
// So clients that are to hold publishers back must be real subscribers
// of the busy topics and most of a loop's fan-out writes. A watched
// connection is pinged again, once its last ping was answered, at its
// next fan-out write a lag tick later. The reader lag is the lower
// median over them. A connection's lag is its last round trip, the
// reader was reading frames that old when it answered, until its next
// probe is answered; a probe not answered yet counts with its age so
// far, so readers seconds behind are seen before they answer. While
// publishers wait, or the loop says its readers are behind, connections
// with nothing to write are pinged too, so that a reader that caught up
// says so without a message to carry the ping.
//
// Who cannot hold publishers back:
//   - a minority of slow readers: the median of distinct connections,
//     not the largest, over probeQuorum of them at least; theirs is the
//     queue bound and close 4000, as before (lag.go);
//   - a connection that is closing, or whose last round trip was over
//     stallAfter (ten bounds): it is left to its queue bound;
//   - a client that does not answer pings (RFC 6455 requires it to): a
//     probe left unanswered when its watch ends is remembered (the last
//     probeMissed of them); one still unanswered after stallAfter marks
//     its connection, which is not watched again until it answers it. A
//     reader far behind answers late and stays watched, and one marked
//     while it is watched again is unmarked by its answer to the probe
//     of that watch.
//
// Probes go out only while a loop's writes carry at least probeBusy
// fan-out frames a lag tick: a quiet node, where readers cannot be far
// behind, pings nobody more than its heartbeat. Cost: one 10-byte ping in
// a write that is made anyway, and one pong to read, per probe; at most
// probeSlots watched connections a loop, each pinged once a lag tick at
// most; per fan-out write, a look through the slots, and per new watch
// one random draw.

const (
	probeSlots    = 32 // connections a loop watches at once: the median is over them
	probeQuorum   = 8  // fewer connections watched than this: no reader lag
	probesPerTick = 4  // connections a loop starts to watch per lag tick, at most
	probeWatch    = 10 // a connection is watched for this many bounds
	probeBusy     = 64 // fan-out frames a loop writes in a lag tick for its readers to be probed
	probeMissed   = 64 // unanswered probes of ended watches remembered
)

// probe is one watched connection and its latest probe ping.
type probe struct {
	c       *conn
	watched int64 // monotonic time its watch began
	sent    int64 // the payload of its probe out, or of the one last answered
	resent  int64 // the payload of the latest ping sent again for it; 0: none
	rtt     int64 // 0 while the probe is out
	prev    int64 // the round trip of its previous probe; 0: none
}

// probes is a loop's probe table, touched by the loop goroutine only.
type probes struct {
	slots   []probe
	missed  [probeMissed]missedProbe
	nMissed int   // missed[nMissed%probeMissed] is the next to go
	next    int64 // no new connection watched before this monotonic time
	ages    []int64
	frames  int  // fan-out frames batched in this lag tick
	busy    bool // the last lag tick batched probeBusy fan-out frames or more
	tickEnd int64

	// Candidates for a new watch: fan-out writes to connections that
	// could be watched and are not (maybeProbe).
	seen    int // candidates so far
	passMax int // candidates of the largest pass over the pending list in this lag tick
	span    int // passMax of the last lag tick
	skip    int // candidates to go until the next watch, that one counted; 0: none drawn
}

// fanned counts n fan-out frames batched for a write at now, and starts
// a new lag tick when this one is over.
func (p *probes) fanned(n int, now, tick int64) {
	if now >= p.tickEnd {
		p.busy = p.frames >= probeBusy
		p.span, p.passMax = p.passMax, 0
		p.frames, p.tickEnd = 0, now+tick
	}
	p.frames += n
}

// passed ends a pass over the loop's pending list; seen was p.seen when
// it began. A fan-out hands a loop all its connections at once, so they
// are written in one pass.
func (p *probes) passed(seen int) { p.passMax = max(p.passMax, p.seen-seen) }

// maybeProbe queues a probe ping behind c's frames when one is due and c
// can answer one. Called by the loop's flush once it batched c's frames
// in l.bufs, when they carry fan-out; a probe queued right behind them
// is added to the write.
func (l *loop) maybeProbe(c *conn, now int64) {
	ls := &l.srv.lagCfg
	if ls.bound == 0 || c.sse || c.deafToProbes {
		return
	}
	p := &l.probes
	slot, watched := p.slotFor(c, now, probeWatch*ls.bound)
	if !watched {
		p.seen++
	}
	switch {
	case !p.busy || slot < 0:
		return
	case watched && now-p.slots[slot].sent < ls.tick:
		return // pinged a moment ago
	case !watched && !p.picked(now):
		return
	}
	frame := probeFrame(now)
	queued, next := c.queueProbe(frame, len(l.bufs))
	if !queued {
		return
	}
	if next && len(l.bufs) < maxBatch {
		l.bufs = append(l.bufs, frame)
	}
	if watched {
		s := &p.slots[slot]
		*s = probe{c: c, watched: s.watched, sent: now, prev: s.rtt}
		return
	}
	p.watch(slot, probe{c: c, watched: now, sent: now})
	p.next = now + ls.tick/probesPerTick
}

// picked says whether the candidate at hand, with a slot free, is the
// one to watch. A draw, made when a watch may begin, passes over up to
// as many candidates as the largest pass of this lag tick or the last
// had: enough to reach any connection of a fan-out, wherever it stands
// in its topic's order, and no more, so that a loop starts its watches
// soon after it gets busy (a connection's first probe sets its baseline,
// best taken before its reader falls behind).
func (p *probes) picked(now int64) bool {
	if now < p.next {
		return false
	}
	if p.skip == 0 {
		p.skip = 1 + rand.IntN(max(p.span, p.passMax, 1))
	}
	p.skip--
	return p.skip == 0
}

// slotFor returns c's slot and true when c is watched (-1 while its
// probe is out); otherwise a new slot, or the one whose watch ended
// longest ago, or -1 when every watch is still on.
func (p *probes) slotFor(c *conn, now, watchFor int64) (slot int, watched bool) {
	ended := -1
	for i, s := range p.slots {
		if s.c == c {
			if s.rtt == 0 {
				return -1, true
			}
			return i, true
		}
		if now-s.watched > watchFor && (ended < 0 || s.watched < p.slots[ended].watched) {
			ended = i
		}
	}
	if len(p.slots) < probeSlots {
		return len(p.slots), false // a new slot: watch appends it
	}
	return ended, false
}

// watch puts pr at slot, as slotFor returned it, ending the watch there.
func (p *probes) watch(slot int, pr probe) {
	if slot == len(p.slots) {
		p.slots = append(p.slots, pr)
		return
	}
	p.end(p.slots[slot])
	p.slots[slot] = pr
}

// reprobe pings the watched connections that no write will ping soon,
// even with nothing queued:
//   - those whose probe is out for longer than the bound, with a fresh
//     payload: a client may answer only the latest of several pings (RFC
//     6455 section 5.5.3), and one whose pong was lost would otherwise
//     count as behind, with no message coming to carry another probe,
//     while publishers wait for it. A reader that is behind answers the
//     first probe first, and is judged by it.
//   - while publishers wait, or this loop says its readers are behind
//     (other nodes' publishers may be waiting for it), those answered
//     more than a tick ago: their last round trip says they were behind,
//     and with publishers held no message comes to carry the ping that
//     would say they caught up.
func (l *loop) reprobe(now int64) {
	ls := &l.srv.lagCfg
	held := l.srv.gate.waiting.Load() > 0 || l.readersBehind(now)
	for i := range l.probes.slots {
		s := &l.probes.slots[i]
		if !s.c.live || s.c.code.Load() != 0 {
			continue
		}
		lost := s.rtt == 0 && now-max(s.sent, s.resent) > ls.bound
		stale := s.rtt != 0 && held && now-(s.sent+s.rtt) > ls.tick
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
			*s = probe{c: s.c, watched: s.watched, sent: now, prev: s.rtt}
		}
		if wake {
			l.flush(s.c)
		}
	}
}

// probeFrame is a ping whose 8-byte payload is sent (RFC 6455 section
// 5.5.2: unmasked, from the server).
func probeFrame(sent int64) []byte {
	f := make([]byte, 10)
	f[0], f[1] = 0x80|0x9, 8 // FIN, ping; length 8
	binary.BigEndian.PutUint64(f[2:], uint64(sent))
	return f
}
