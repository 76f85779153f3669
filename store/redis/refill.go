package redis

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// A hole before a message (seqs that reached history but not this node)
// is filled from the stream before the message is handed over. The
// receive loop that found it does not read the stream: it carries every
// topic of its connection, and all of them would wait for that read, up
// to the timeout when Redis does not answer (and Redis may drop a
// connection read so slowly for its full output buffer). Instead the
// message, and the topic's later ones, are held, in seq order, and the
// refill goroutine reads the hole at once; what history gives and what
// was held are then handed over in seq order.
//
// A read that fails is tried again, with backoff. The hole is not reported
// at once: in a failover the read fails for a second or two while the
// command client finds the new master (its pool dials the old one, and
// go-redis fails calls at once for a second after 20 failed dials),
// though history holds the hole, and a subscriber would be told of a gap
// for messages it could have had.
//
// The hole is reported as a gap only when history shows it gone (a read
// that succeeds without it, or that finds another epoch), when reads kept
// failing for CheckInterval since the first that failed, or when
// HistorySize messages are held after it: history keeps no more than
// HistorySize, so a hole behind that many is out of its reach. A topic
// thus holds at most HistorySize messages while it waits.
//
// The holes of different topics are read in one pipeline per master, the
// masters' in parallel, with at most one pipeline in flight per master
// (refill_reads.go): on Cluster, a master that does not answer holds up
// the holes of its own topics only. A pipeline takes no more holes than
// one could fill, so that what it brings back is no larger than a single
// hole's read.

// refills are the topics whose hole is to be read, each holding the
// messages that came after it.
type refills struct {
	mu      sync.Mutex
	pending map[*topicState]*refillTry
	busy    map[string]bool // the masters a read of holes is in flight on
	wake    chan struct{}   // a token: a topic was added, or a read ended

	mostRead atomic.Int64 // the most messages one read of holes brought back, for tests
}

// refillTry is where the reads of one topic's hole stand.
type refillTry struct {
	failedAt time.Time // the first read of the hole that failed; zero: none yet
	next     time.Time // when to read it (again)
	wait     backoff
	reading  bool // a read of it is in flight
}

func newRefills() refills {
	return refills{pending: make(map[*topicState]*refillTry), busy: make(map[string]bool),
		wake: make(chan struct{}, 1)}
}

// add has st's hole read at once, unless it is pending already; maxWait
// caps the backoff between failed reads.
func (r *refills) add(st *topicState, now time.Time, maxWait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[st] != nil {
		return
	}
	r.pending[st] = &refillTry{next: now, wait: backoff{min: minBackoff, max: maxWait}}
	r.poke()
}

// poke wakes refill. r.mu must be held.
func (r *refills) poke() {
	select {
	case r.wake <- struct{}{}:
	default: // refill has been told already
	}
}

// due returns the topics whose read is due and not in flight, and how
// long until the next one that is not due yet (0: none).
func (r *refills) due(now time.Time) (sts []*topicState, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for st, try := range r.pending {
		if try.reading {
			continue
		}
		if d := try.next.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		sts = append(sts, st)
	}
	return sts, wait
}

// claim marks the holes of sts as read on master, unless a read is in
// flight on master already.
func (r *refills) claim(master string, sts []*topicState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[master] {
		return false
	}
	r.busy[master] = true
	for _, st := range sts {
		if try := r.pending[st]; try != nil {
			try.reading = true
		}
	}
	return true
}

// unclaim has st's hole, claimed for a read that leaves it out, read in
// a later one.
func (r *refills) unclaim(st *topicState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if try := r.pending[st]; try != nil {
		try.reading = false
	}
}

// read notes that a read of holes brought back n messages.
func (r *refills) read(n int64) {
	for {
		most := r.mostRead.Load()
		if n <= most || r.mostRead.CompareAndSwap(most, n) {
			return
		}
	}
}

// free ends the read on master, and wakes refill for the holes that
// waited for it.
func (r *refills) free(master string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.busy, master)
	r.poke()
}

// failed notes that a read of st's hole failed at now, has it read again
// after a backoff, and returns when the first of its reads that failed
// did.
func (r *refills) failed(st *topicState, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	try := r.pending[st]
	if try == nil {
		return now
	}
	if try.failedAt.IsZero() {
		try.failedAt = now
	}
	try.next, try.reading = now.Add(try.wait.next()), false
	return try.failedAt
}

// restart has st's next hole, if it holds one, read at once, its failures
// counted afresh.
func (r *refills) restart(st *topicState, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if try := r.pending[st]; try != nil {
		try.failedAt, try.next, try.reading = time.Time{}, now, false
		try.wait.reset()
	}
}

func (r *refills) done(st *topicState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, st)
}

// holdLocked keeps m, which comes after a hole, until the hole is filled
// or known gone, and has refill read it. Past HistorySize held messages,
// the first hole is out of history's reach: it is reported as a gap and
// what follows it handed over. st.mu must be held.
func (e *Engine) holdLocked(st *topicState, m *broker.Message) {
	i, found := slices.BinarySearchFunc(st.held, m.Seq, func(h *broker.Message, seq uint64) int {
		return cmp.Compare(h.Seq, seq)
	})
	if found {
		return // a duplicate
	}
	st.held = slices.Insert(st.held, i, m)
	e.drainLocked(st)
	if len(st.held) > e.cfg.HistorySize {
		e.handFirstHeldLocked(st) // a gap before it
		e.drainLocked(st)         // and what follows it
	}
	if len(st.held) > 0 {
		e.refills.add(st, time.Now(), e.cfg.BackoffMax)
	} else {
		st.held = nil
	}
}

// drainLocked hands over the held messages that follow on from the last
// one handed over. st.mu must be held.
func (e *Engine) drainLocked(st *topicState) {
	for len(st.held) > 0 && st.held[0].Seq <= st.last+1 {
		e.handFirstHeldLocked(st)
	}
}

// handFirstHeldLocked takes the first held message and hands it over,
// unless one of its seq was handed over already. st.mu must be held.
func (e *Engine) handFirstHeldLocked(st *topicState) {
	m := st.held[0]
	st.held[0] = nil
	st.held = st.held[1:]
	if m.Seq > st.last {
		e.handOneLocked(st, m)
	}
}

// releaseHeldLocked hands over the held messages up to upto+1, reporting the
// seqs missing before them as gaps: it is called once history was read up
// to upto, so what it lacked is gone. Those held past upto+1 follow on or
// wait. st.mu must be held.
func (e *Engine) releaseHeldLocked(st *topicState, upto uint64) {
	for len(st.held) > 0 && st.held[0].Seq <= upto+1 {
		e.handFirstHeldLocked(st)
	}
	e.drainLocked(st)
}
