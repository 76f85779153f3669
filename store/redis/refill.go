package redis

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// A hole before a message (seqs that reached history but not this node)
// is filled from the stream before the message is handed over. When that
// read fails, the hole is not reported at once: in a failover the read
// fails for a second or two while the command client finds the new master
// (its pool dials the old one, and go-redis fails calls at once for a
// second after 20 failed dials), though history holds the hole, and a
// subscriber was told of a gap for messages it could have had. Instead
// the topic's later messages are held, in seq order, and one goroutine
// (refill) reads the hole again, with backoff, off the receive loop, so
// that other topics' delivery goes on meanwhile.
//
// The hole is reported as a gap only when history shows it gone (a read
// that succeeds without it, or that finds another epoch), when reads kept
// failing for CheckInterval since the first, or when HistorySize messages
// are held after it: history keeps no more than HistorySize, so a hole
// behind that many is out of its reach. A topic thus holds at most
// HistorySize messages while it waits.

// refills are the topics whose hole a read failed to fill, each holding
// the messages that came after it.
type refills struct {
	mu      sync.Mutex
	pending map[*topicState]*refillTry
	wake    chan struct{} // a token: a topic was added
}

// refillTry is where the reads of one topic's hole stand.
type refillTry struct {
	failedAt time.Time // the first read of the hole that failed
	next     time.Time // when to read it again
	wait     backoff
}

func newRefills() refills {
	return refills{pending: make(map[*topicState]*refillTry), wake: make(chan struct{}, 1)}
}

// add has st's hole read again by refill; now is when its read failed.
func (r *refills) add(st *topicState, now time.Time, maxWait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[st] != nil {
		return
	}
	r.pending[st] = &refillTry{failedAt: now, wait: backoff{min: minBackoff, max: maxWait}}
	r.pending[st].next = now.Add(r.pending[st].wait.next())
	select {
	case r.wake <- struct{}{}:
	default: // refill has been told already
	}
}

// due returns the topics whose next read is due, and how long until the
// next one that is not (0: none pending).
func (r *refills) due(now time.Time) (sts []*topicState, tries []*refillTry, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for st, try := range r.pending {
		if d := try.next.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		sts, tries = append(sts, st), append(tries, try)
	}
	return sts, tries, wait
}

func (r *refills) done(st *topicState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, st)
}

// refill reads again the holes of the pending topics until ctx ends.
func (e *Engine) refill(ctx context.Context) {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		sts, tries, wait := e.refills.due(time.Now())
		for i, st := range sts {
			if ctx.Err() != nil {
				return
			}
			e.refillOne(ctx, st, tries[i])
		}
		if len(sts) > 0 {
			continue // reads took time, or found another hole: see what is due now
		}
		timerC := timer.C
		if wait == 0 {
			timerC = nil // nothing pending: wait for a topic to be added
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.refills.wake:
		case <-timerC:
		}
	}
}

// refillOne reads st's hole, without st.mu so that its messages can still
// be held meanwhile, and hands over what history gives, then the held
// messages up to the next hole. A topic that holds nothing any more
// leaves the pending ones, under st.mu so that a message held meanwhile
// adds it again.
func (e *Engine) refillOne(ctx context.Context, st *topicState, try *refillTry) {
	st.mu.Lock()
	if st.gone.Load() || len(st.held) == 0 {
		st.held = nil
		e.refills.done(st)
		st.mu.Unlock()
		return
	}
	epoch, since, upto := st.epoch, st.last, st.held[len(st.held)-1].Seq-1
	st.mu.Unlock()

	res, err := e.fillRead(ctx, st.topic, since, upto)
	if ctx.Err() != nil {
		return // the engine is closing
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	switch {
	case st.epoch != epoch || len(st.held) == 0:
		// A new epoch dropped what was held, or a check filled the hole:
		// whatever is held now is looked at afresh.
		try.restart(now)
	case err != nil && now.Sub(try.failedAt) < e.cfg.CheckInterval:
		try.next = now.Add(try.wait.next())
		e.log.Debug("cannot fill a gap from history yet; trying again", zap.String("topic", st.topic), zap.Error(err))
	case err != nil:
		e.log.Warn("cannot fill a gap from history: reported as a gap", zap.String("topic", st.topic),
			zap.Duration("trying_for", now.Sub(try.failedAt)), zap.Error(err))
		e.releaseHeldLocked(st, maxSeq)
	default:
		if res.Epoch == epoch { // else the stream holds another epoch now: the hole is gone
			e.handAllLocked(st, res.Messages)
		}
		e.releaseHeldLocked(st, upto) // what history lacked up to upto is gone
		try.restart(now)
	}
	if len(st.held) == 0 {
		st.held = nil
		e.refills.done(st)
	}
}

// restart has the next hole read at once, its failures counted afresh.
func (t *refillTry) restart(now time.Time) {
	t.failedAt, t.next = now, now
	t.wait.reset()
}

// fillRead reads the messages of topic's stream after since up to upto.
func (e *Engine) fillRead(ctx context.Context, topic string, since, upto uint64) (broker.HistoryResult, error) {
	return e.read(ctx, topic, "", since, -1, upto)
}

// holdLocked keeps m, which comes after a hole that a read failed to
// fill, until the hole is filled or known gone, and has refill read it
// again. Past HistorySize held messages, the first hole is out of
// history's reach: it is reported as a gap and what follows it handed
// over. st.mu must be held.
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
