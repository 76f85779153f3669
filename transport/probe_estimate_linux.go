//go:build linux

package transport

import "slices"

// The reader lag the probes give (probe_linux.go): the lower median of
// the watched connections' lags, and whether it puts the loop's readers
// behind.

// readersBehind says whether the loop's last estimate put its readers
// further behind than the bound. An estimate within it leaves idle
// readers alone: a connection nothing is written to cannot fall behind.
func (l *loop) readersBehind(now int64) bool {
	t := l.lag.readers.Load()
	return t != 0 && now-t > l.srv.holdBound(now)
}

// estimate returns the reader lag at now (0: too few connections): the
// lower median of the watched connections' lags, a connection whose lag
// is over stall not counted. It ends the watches older than watchFor and
// drops the connections gone or closing.
func (p *probes) estimate(now, watchFor, stall int64) int64 {
	p.judgeMissed(now, stall)
	kept := p.slots[:0]
	p.ages = p.ages[:0]
	for _, s := range p.slots {
		switch {
		case !s.c.live || s.c.code.Load() != 0:
			continue // gone, or closing: a closing one reads no more pongs
		case now-s.watched > watchFor:
			p.end(s)
			continue
		}
		kept = append(kept, s)
		lag := s.rtt
		if s.rtt == 0 {
			lag = max(now-s.sent-s.c.baseRoundTrip(), s.prev)
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
	return p.ages[(len(p.ages)-1)/2]
}

// active says whether the loop has probes to estimate from.
func (p *probes) active() bool { return len(p.slots) > 0 }
