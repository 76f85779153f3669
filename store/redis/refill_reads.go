package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// refillBatch bounds the holes one pipeline reads; the holes past it are
// read once that round trip is back. Their replies come back together, so
// a pipeline also takes no more holes than one could fill (HistorySize
// messages, each as large as a publish allows): up to refillBatch times
// that, for every master at once, would hold as many messages in memory,
// where a hole read on its own, as a check reads one, holds one's worth.
const refillBatch = 64

// refill reads the holes of the pending topics until ctx ends: those of
// each master in one pipeline, in a goroutine of its own, so that a
// master that does not answer holds up only its own (refill.go). It
// returns once those goroutines have ended, as every read has a deadline.
func (e *Engine) refill(ctx context.Context) {
	defer e.wg.Done()
	var reads sync.WaitGroup
	defer reads.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := e.startRefills(ctx, &reads)
		timerC := timer.C
		if wait == 0 {
			timerC = nil // nothing waits for a time: wait for a topic or a read to end
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

// startRefills starts a read of the due holes of each master that has no
// read in flight (the others are read once it ends), and returns how long
// until the next hole that is not due yet (0: none).
func (e *Engine) startRefills(ctx context.Context, reads *sync.WaitGroup) time.Duration {
	sts, wait := e.refills.due(time.Now())
	if len(sts) == 0 {
		return wait
	}
	topics := make([]string, len(sts))
	for i, st := range sts {
		topics[i] = st.topic
	}
	mctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	masters := e.mastersOf(mctx, topics) // with one Redis, all one master
	cancel()
	groups := make(map[string][]*topicState)
	for i, st := range sts {
		groups[masters.slot[i]] = append(groups[masters.slot[i]], st)
	}
	for master, group := range groups {
		group = group[:min(len(group), refillBatch)]
		if e.refills.claim(master, group) {
			reads.Go(func() { e.refillOn(ctx, master, group) })
		}
	}
	return wait
}

// hole is a read of a topic's hole: the seqs after since, up to upto, of
// epoch, and what the read gave.
type hole struct {
	st          *topicState
	epoch       string
	since, upto uint64
	res         broker.HistoryResult
	err         error
}

// refillOn reads the holes of sts, whose master is master, and hands over
// what history gives, then the held messages up to each topic's next
// hole. It reads the first, and those after it as long as together they
// span no more seqs than HistorySize (see refillBatch); the others are
// read once it is done.
func (e *Engine) refillOn(ctx context.Context, master string, sts []*topicState) {
	defer e.refills.free(master)
	holes := make([]hole, 0, len(sts))
	seqs := 0
	for _, st := range sts {
		h, ok := e.holeOf(st)
		if !ok {
			continue
		}
		n := h.span(e.cfg.HistorySize)
		if len(holes) > 0 && seqs+n > e.cfg.HistorySize {
			e.refills.unclaim(st)
			continue
		}
		holes, seqs = append(holes, h), seqs+n
	}
	e.fillReads(ctx, holes)
	if ctx.Err() != nil {
		return // the engine is closing
	}
	for i := range holes {
		e.refilled(&holes[i])
	}
}

// span is how many messages a read of h can bring back, history keeping
// at most size.
func (h hole) span(size int) int {
	if h.upto <= h.since {
		return 0
	}
	return int(min(h.upto-h.since, uint64(size)))
}

// holeOf returns st's hole: from the last seq handed over to the last one
// held. A topic that holds nothing any more (a check filled its hole, or
// it was unsubscribed) leaves the pending ones, under st.mu so that a
// message held meanwhile adds it again.
func (e *Engine) holeOf(st *topicState) (hole, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone.Load() || len(st.held) == 0 {
		st.held = nil
		e.refills.done(st)
		return hole{}, false
	}
	return hole{st: st, epoch: st.epoch, since: st.last, upto: st.held[len(st.held)-1].Seq - 1}, true
}

// fillReads reads holes, which share a master, in one pipeline within the
// timeout, setting each one's result or error.
func (e *Engine) fillReads(ctx context.Context, holes []hole) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	pipe := e.rdb.Pipeline()
	cmds := make([]*goredis.Cmd, len(holes))
	for i := range holes {
		h := &holes[i]
		if e.readFailedByTest() {
			h.err = e.fail("read", errReadFailedByTest)
			continue
		}
		keys, args := e.readArgs(h.st.topic, "", h.since, -1, h.upto, 0, "")
		cmds[i] = readScript.EvalSha(ctx, pipe, keys, args...)
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil && !goredis.HasErrorPrefix(err, "NOSCRIPT") {
		e.fail("refill", err) // counted once a pipeline; each read's own error is below
	}
	var n int64
	for i, cmd := range cmds {
		h := &holes[i]
		if cmd == nil {
			continue
		}
		v, err := cmd.Result()
		switch {
		case goredis.HasErrorPrefix(err, "NOSCRIPT"): // Redis lost its scripts: read loads it
			h.res, h.err = e.read(ctx, h.st.topic, "", h.since, -1, h.upto)
		case err != nil:
			h.err = fmt.Errorf("herald/redis: read the hole of %q: %w", h.st.topic, err)
		default:
			h.res, h.err = parseRead(h.st.topic, v)
		}
		n += int64(len(h.res.Messages))
	}
	e.refills.read(n)
}

// refilled hands over what the read of h gave, then the held messages up
// to the topic's next hole, or has h read again later, or reports it as a
// gap (refill.go).
func (e *Engine) refilled(h *hole) {
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	switch {
	case st.epoch != h.epoch || len(st.held) == 0:
		// A new epoch dropped what was held, or a check filled the hole:
		// whatever is held now is looked at afresh.
		e.refills.restart(st, now)
	case h.err != nil:
		failedAt := e.refills.failed(st, now)
		if now.Sub(failedAt) < e.cfg.CheckInterval {
			e.log.Debug("cannot fill a gap from history yet; trying again", zap.String("topic", st.topic), zap.Error(h.err))
			break
		}
		e.log.Warn("cannot fill a gap from history: reported as a gap", zap.String("topic", st.topic),
			zap.Duration("trying_for", now.Sub(failedAt)), zap.Error(h.err))
		e.releaseHeldLocked(st, maxSeq)
	default:
		if h.res.Epoch == h.epoch { // else the stream holds another epoch now: the hole is gone
			e.handAllLocked(st, h.res.Messages)
		}
		e.releaseHeldLocked(st, h.upto) // what history lacked up to upto is gone
		e.refills.restart(st, now)
	}
	if len(st.held) == 0 {
		st.held = nil
		e.refills.done(st)
	}
}
