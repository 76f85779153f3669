package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// checkAll delivers from history what pub/sub lost of the topics of
// states. It reads their positions in Redis, then probes the pub/sub
// connections they depend on: once the probe is back, every message
// published before the positions were read has come through the
// connection and been handed over, so whatever is still missing up to
// those positions was lost, and not merely on its way.
//
// A topic Redis fails to read (its position or its history) is left for
// the next check and the others are checked on. A read that timed out
// means its Redis is away: with one Redis that ends the round, as every
// other read would wait as long; on Cluster it leaves the topics of that
// master alone for the round, as does a probe that could not be had
// through it, and the round does not wait for the masters of r.away at
// all (see masters.go). It returns the states it could not check, for
// the caller to check again, and the probe's error (errShardBroken: the
// topics of a broken shard were left, for repairShards). The supervisor
// runs one per master at a time, beside its other work (watcher.check).
func (e *Engine) checkAll(ctx context.Context, states []*topicState, r round) checked {
	states = subscribed(states) // an unsubscribed topic owes nothing, however its last check went
	if len(states) == 0 {
		return checked{} // nothing to check; the probe ticker watches the connection
	}
	// What was handed over before the positions were read was published
	// before: a position below it, or in an epoch delivery had left, went
	// back (see failover.go).
	handed := make([]handedPos, len(states))
	topics := make([]string, len(states))
	for i, st := range states {
		handed[i], topics[i] = st.handed(), st.topic
	}
	masters := e.mastersOf(ctx, topics)
	gone := make(away)
	gone.merge(r.away)
	positions, errs, err := e.positions(ctx, states, masters, gone)
	if err != nil {
		return checked{failed: states, lastErr: err}
	}
	probed, err := e.probeFor(ctx, masters, round{away: gone, classic: r.classic})
	if err != nil {
		return checked{failed: states, err: err}
	}
	gone.merge(probed.away)
	var res checked
	stampRefused := make(map[string]*error) // by master: see finishRebase
	for i, st := range states {
		err := errs[i]
		if err == nil && masters.awayFor(gone, i) {
			err = masters.awayErr(st.topic, i)
		}
		if err == nil {
			refused := stampRefused[masters.slot[i]]
			if refused == nil {
				refused = new(error)
				stampRefused[masters.slot[i]] = refused
			}
			err = e.check(ctx, masters.clients[masters.slot[i]], st, handed[i], positions[i], refused)
			if err != nil && timedOut(err) && e.shards.on() {
				gone[masters.slot[i]] = true // its other topics wait too
			}
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, errAway) || res.lastErr == nil {
			res.lastErr = err
		}
		res.failed = append(res.failed, st)
		if ctx.Err() != nil || timedOut(err) && !e.shards.on() {
			res.failed = append(res.failed, states[i+1:]...)
			return res
		}
	}
	if probed.broke {
		res.err = errShardBroken
	}
	return res
}

// checked is what checkAll found: the topics it could not check, for the
// next round; the last read that failed, for noteChecks; and the error of
// its probe.
type checked struct {
	failed  []*topicState
	lastErr error
	err     error
}

// check hands over the messages of st's topic up to at (its position in
// Redis, known lost by pub/sub) that history holds and were not handed
// over, read from master (nil: none known) on connections that need no
// stamp (plainreads.go), and reports the rest as a gap; a topic in a new
// epoch is handed over from that epoch's start, and one whose position
// went back below handed (where delivery stood before at was read) in its
// epoch, or to an epoch delivery had left by then, is started a new one
// (see beginRebaseLocked).
//
// It reads history, and rebases, without st.mu, which the receive loop
// takes to deliver the topic's next message: a call that waits for Redis
// (up to the timeout, more with resends) would hold that loop, and every
// topic of its connection. What was delivered meanwhile only moves the
// topic on in its epoch, or to another one, and checkedLocked takes that
// into account. stampRefused is the round's refusal of a rebase on the
// topic's master for want of the stamp (see finishRebase).
func (e *Engine) check(ctx context.Context, master *goredis.Client, st *topicState, handed handedPos, at storedPos, stampRefused *error) error {
	r, next := e.checkFrom(st, handed, at)
	switch next {
	case checkDone:
		return nil
	case checkRebase:
		e.finishRebase(ctx, st, at, stampRefused)
		return nil
	}
	var res broker.HistoryResult
	err := e.resend(ctx, e.deadConnSends(), "a history read", func() (err error) {
		c, done := e.plainReader(master)
		defer done()
		res, err = e.readAt(ctx, c, st.topic, "", r.since, -1, at.seq, 0, "") // its unsure flag unused
		return err
	})
	if err != nil {
		return fmt.Errorf("herald/redis: check %q: %w", st.topic, err)
	}
	st.mu.Lock()
	rebase := e.checkedLocked(st, r, at, res)
	st.mu.Unlock()
	if rebase {
		e.finishRebase(ctx, st, at, stampRefused)
	}
	return nil
}

// checkRead is where a check reads a topic's history from: after since,
// delivery standing at was when it started. verify says that the read
// starts one before was.seq, to see that was.seq still names the message
// handed over (a failover may have lost it and given its seq again).
type checkRead struct {
	was    storedPos
	since  uint64
	verify bool
}

// checkNext is what a check of a topic does after checkFrom.
type checkNext int

const (
	checkDone    checkNext = iota // nothing: delivery is as far, or the topic went
	checkReading                  // read history from where checkFrom says
	checkRebase                   // start the topic a new epoch (finishRebase)
)

// checkFrom returns where the check of st up to at reads history from,
// or that it need not read: the topic is no longer covered, or delivery
// has come as far, or a rebase is under way, or its position went back
// (see check), when the rebase is the caller's to run.
func (e *Engine) checkFrom(st *topicState, handed handedPos, at storedPos) (checkRead, checkNext) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !e.subs.covered(st) || st.epoch == "" || at.epoch == "" || st.rebasing {
		return checkRead{}, checkDone
	}
	switch {
	case handed.epoch == st.epoch && diverged(handed.storedPos, at), handed.left.has(at.epoch):
		if e.beginRebaseLocked(st, at) {
			return checkRead{}, checkRebase
		}
		return checkRead{}, checkDone
	case st.left.has(at.epoch): // read before delivery left it: the next check reads anew
		return checkRead{}, checkDone
	}
	if at.epoch == st.epoch && at.seq <= st.last {
		return checkRead{}, checkDone
	}
	r := checkRead{was: storedPos{st.epoch, st.last, st.lastID}, since: st.last}
	if at.epoch != st.epoch {
		r.since = 0
	}
	r.verify = at.epoch == st.epoch && st.lastID != "" && r.since > 0
	if r.verify {
		r.since--
	}
	return r, checkReading
}

// checkedLocked hands over what the check's read r of st up to at gave
// (res), and reports what history lacked as a gap. Delivery went on
// while history was read: within r's epoch it only moved on, and what was
// handed over since is not handed again; to another epoch than r's and
// at's, and the check has nothing to add. It reports whether the read
// showed r's last seq naming another message: the caller is to run the
// rebase it began (finishRebase). st.mu must be held.
func (e *Engine) checkedLocked(st *topicState, r checkRead, at storedPos, res broker.HistoryResult) (rebase bool) {
	switch {
	case !e.subs.covered(st): // unsubscribed meanwhile
		return false
	case res.Epoch != at.epoch: // the epoch changed again since: the next check sees it
		return false
	case st.epoch != r.was.epoch && st.epoch != at.epoch: // delivery went on to another epoch meanwhile
		return false
	case st.rebasing: // a seq given again reached the receive loop meanwhile
		return false
	}
	if r.verify && st.epoch == r.was.epoch && len(res.Messages) > 0 &&
		res.Messages[0].Seq == r.was.seq && res.Messages[0].ID != r.was.id {
		return e.beginRebaseLocked(st, at)
	}
	if at.epoch != st.epoch {
		e.newEpochLocked(st, at.epoch)
	}
	before := st.last
	e.subs.active.note(st) // traffic: check the topic again soon
	e.handAllLocked(st, res.Messages)
	e.log.Info("delivered from history what pub/sub lost", zap.String("topic", st.topic),
		zap.Uint64("after", before), zap.Int("count", len(res.Messages)))
	e.releaseHeldLocked(st, at.seq) // messages held behind a hole in what was read (refill.go)
	e.gapLocked(st, at.seq)         // gone from history, and no message after them to show it
	return false
}

// subscribed returns the states of states that a subscription still
// covers, in a new slice when some do not.
func subscribed(states []*topicState) []*topicState {
	if !slices.ContainsFunc(states, isGone) {
		return states
	}
	return slices.DeleteFunc(slices.Clone(states), isGone)
}

func isGone(st *topicState) bool { return st.gone.Load() }

// withOwed adds to states those of owed it lacks: the topics a check
// still owes go into the next one, whatever their traffic.
func withOwed(states, owed []*topicState) []*topicState {
	if len(owed) == 0 {
		return states
	}
	in := make(map[*topicState]bool, len(states))
	for _, st := range states {
		in[st] = true
	}
	for _, st := range owed {
		if !in[st] {
			states = append(states, st)
		}
	}
	return states
}

// checkTrouble is since when checks have left topics unchecked because
// Redis failed to read them, so that a failure that lasts is logged once
// and not once a topic and interval. Only the supervisor touches it.
type checkTrouble struct {
	since   time.Time // zero: the last check checked every topic it owed
	warned  bool
	lastErr error // the last read a check failed
}

// maxLoggedTopics bounds the topics one log line names.
const maxLoggedTopics = 10

// noteChecks logs, once, that checks keep failing to read the topics
// owed for a check interval, naming them (the first maxLoggedTopics),
// and that they check again once they do.
func (e *Engine) noteChecks(owed []*topicState) {
	t := &e.checks
	if len(owed) == 0 {
		if t.warned {
			e.log.Info("topics are checked against Redis again")
		}
		*t = checkTrouble{}
		return
	}
	names := make([]string, 0, min(len(owed), maxLoggedTopics))
	for _, st := range owed[:cap(names)] {
		names = append(names, st.topic)
	}
	switch {
	case t.since.IsZero():
		t.since = time.Now()
		e.log.Debug("cannot check topics against Redis now", zap.Int("count", len(owed)),
			zap.Strings("topics", names), zap.Error(t.lastErr))
	case !t.warned && time.Since(t.since) >= e.cfg.CheckInterval:
		t.warned = true
		e.log.Warn("cannot check topics against Redis: what pub/sub lost of them waits",
			zap.Int("count", len(owed)), zap.Strings("topics", names),
			zap.Duration("for", time.Since(t.since)), zap.Error(t.lastErr))
	}
}
