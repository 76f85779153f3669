//go:build linux

package transport

// A lingering connection is looked at after lingerFirstCheck, then after
// twice as long each time, up to a sweep's interval: the wait of its
// step k is lingerWait(k). Connections that reached one step have the
// same wait, so each step's queue is in the order its connections are
// due (the loop's clock only moves on), and a check pops those due from
// the front of each queue: it costs what is due, not all that linger.
// Walking all of them at each check cost a busy loop with 10,000
// lingering connections nearly all its time (BenchmarkLingering).

// lingerEntry is a connection due to be looked at, at at.
type lingerEntry struct {
	c  *conn
	at int64
}

// lingerLastStep bounds the steps whatever a sweep's interval: its wait
// would be over 100 days.
const lingerLastStep = 30

// lingerWait is how long a connection at step waits for its next look.
func lingerWait(step int, most int64) int64 {
	if step == 0 {
		return int64(lingerFirstCheck)
	}
	return min(int64(lingerFirstCheck)<<step, most)
}

// nextLingerStep is the step after step: the same once its wait is a
// sweep's interval.
func nextLingerStep(step int, most int64) int {
	if step == lingerLastStep || step > 0 && lingerWait(step, most) == most {
		return step
	}
	return step + 1
}

// linger has c's socket looked at again from lingerFirstCheck on.
func (l *loop) linger(c *conn, now int64) {
	if _, listed := l.lingering[c]; listed {
		return
	}
	if len(l.lingering) == 0 {
		l.lingering = make(map[*conn]struct{})
		l.nextLinger = maxTime
	}
	l.lingering[c] = struct{}{}
	l.lingerAt(c, 0, now)
}

// lingerAt queues c at step, to be looked at its wait after now.
func (l *loop) lingerAt(c *conn, step int, now int64) {
	for len(l.lingerSteps) <= step {
		l.lingerSteps = append(l.lingerSteps, nil)
	}
	at := now + lingerWait(step, int64(sweepInterval(l.srv.lim)))
	l.lingerSteps[step] = append(l.lingerSteps[step], lingerEntry{c: c, at: at})
	l.nextLinger = min(l.nextLinger, at)
}

// checkLingering drops the lingering connections due whose socket
// drained (dropDone, which drop forgets them from), queues the others
// at their next step, and notes when the first one is due. An entry of a
// connection dropped meanwhile (no longer listed) is let go.
func (l *loop) checkLingering(now int64) {
	most := int64(sweepInterval(l.srv.lim))
	for step := range l.lingerSteps {
		queue := l.lingerSteps[step]
		due := 0
		for due < len(queue) && queue[due].at <= now {
			due++
		}
		l.lingerSteps[step] = queue[due:]
		for _, e := range queue[:due] {
			if _, listed := l.lingering[e.c]; listed && !l.dropDoneOrRead(e.c) {
				l.lingerAt(e.c, nextLingerStep(step, most), now)
			}
		}
		clear(queue[:due])
	}
	if len(l.lingering) == 0 {
		l.lingering, l.lingerSteps = nil, nil
		return
	}
	l.nextLinger = maxTime
	for _, queue := range l.lingerSteps {
		if len(queue) > 0 {
			l.nextLinger = min(l.nextLinger, queue[0].at)
		}
	}
}
