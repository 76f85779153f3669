//go:build linux

package transport

// lingering is when a lingering connection's socket is looked at next,
// and how long the wait before that look was.
type lingering struct{ at, wait int64 }

// linger has c's socket looked at again from lingerFirstCheck on.
func (l *loop) linger(c *conn, now int64) {
	if _, listed := l.lingering[c]; listed {
		return
	}
	if len(l.lingering) == 0 {
		l.lingering = make(map[*conn]lingering)
		l.nextLinger = maxTime
	}
	wait := int64(lingerFirstCheck)
	l.lingering[c] = lingering{at: now + wait, wait: wait}
	l.nextLinger = min(l.nextLinger, now+wait)
}

// checkLingering drops the lingering connections whose socket drained
// (dropDone, which drop forgets them from), and notes when to look at the
// others again.
func (l *loop) checkLingering(now int64) {
	l.nextLinger = maxTime
	most := int64(sweepInterval(l.srv.lim))
	for c, lg := range l.lingering {
		if lg.at <= now {
			if l.dropDone(c) {
				continue
			}
			lg.wait = min(2*lg.wait, most)
			lg.at = now + lg.wait
			l.lingering[c] = lg
		}
		l.nextLinger = min(l.nextLinger, lg.at)
	}
	if len(l.lingering) == 0 {
		l.lingering = nil
	}
}
