package redis

import (
	"sync"
	"time"
)

// activeChecks is how many check intervals a topic stays in the periodic
// check after its last message, and how many periodic checks at least
// (see checkRounds). While the pub/sub connection stays up,
// Redis delivers every message in order, so pub/sub can lose only what
// came just before the connection broke; a break is seen (a failed read or
// probe) and answered by a check of every tracked topic. The periodic
// check is for a silent break's last messages, and for what reached
// history without being published to this node: a few intervals of
// recent traffic cover both, and let an idle node with 100,000 tracked
// topics send no position reads at all (it sent 20,000 a second before).
const activeChecks = 3

// activity is the set of topic states with a message in the last few check
// intervals, so that the periodic check reads the positions of those
// topics only: its cost follows recent traffic, not every topic seen.
//
// A state is listed at most once: listed is set, and the set changed,
// only under mu. A message sets touched before it reads listed, and
// recent clears listed before it reads touched, so that a message arriving
// while recent unlists its state either finds it unlisted and lists it
// again, or is seen by recent, which keeps it.
type activity struct {
	mu  sync.Mutex
	set map[*topicState]struct{}
}

// note marks st as having had a message just now.
func (a *activity) note(st *topicState) {
	st.touch()
	if st.listed.Load() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !st.gone.Load() {
		st.listed.Store(true)
		a.set[st] = struct{}{}
	}
}

// remove takes a dropped state out of the set.
func (a *activity) remove(st *topicState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.set, st)
	st.listed.Store(false)
}

// recent returns the states with a message within window, and unlists the
// others.
func (a *activity) recent(window time.Duration) []*topicState {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*topicState, 0, len(a.set))
	for st := range a.set {
		if st.idleFor() > window {
			st.listed.Store(false)
			if st.idleFor() > window { // see activity: a message may have just come
				delete(a.set, st)
				continue
			}
			st.listed.Store(true)
		}
		out = append(out, st)
	}
	return out
}

// checkRounds is when the last activeChecks periodic checks started, so
// that a topic stays in them until that many have started after its last
// message, however late they come. Measured by the clock alone, a topic
// whose message pub/sub lost while the checks were held up left the
// periodic check before any check read its position, and was never
// checked again (on a 3-master cluster on a busy two-core machine with
// one master stopped, 1-second checks behind 300 ms probes, and a pattern
// held: 2 runs in 28), when checks waited behind the probes that waited
// out the timeout for the stopped master. They no longer do (watchjobs.go),
// but a check tick can still come late on a machine busy enough. Only
// the supervisor touches one.
type checkRounds struct {
	starts [activeChecks]time.Time // a ring; the oldest at next
	next   int
}

// newCheckRounds starts the count at a check of every topic made at now.
func newCheckRounds(now time.Time) checkRounds {
	var r checkRounds
	for i := range r.starts {
		r.starts[i] = now
	}
	return r
}

// window notes a periodic check starting at now, and returns how far
// back it looks for traffic: activeChecks intervals, or further, to the
// start of the activeChecks-th check before it.
func (r *checkRounds) window(now time.Time, interval time.Duration) time.Duration {
	w := max(activeChecks*interval, now.Sub(r.starts[r.next]))
	r.starts[r.next] = now
	r.next = (r.next + 1) % activeChecks
	return w
}
