package redis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"
)

// errConnBroken is watch's answer when the receive loop saw its connection
// fail: go-redis would redial and resubscribe by itself, but messages
// published in between would be lost unnoticed, so the supervisor replaces
// the connection and checks positions instead.
var errConnBroken = errors.New("pub/sub connection broken")

// watch checks every tracked topic, and the topics a break of the
// classic connection owes a catch-up (untracked.go), and replays the
// presence change logs, then probes the connections and checks the
// topics with recent traffic until a probe finds the classic connection
// failed, its receive loop reports it broken, or ctx ends; it replays the
// logs that fall behind meanwhile. Each of those runs as a job beside
// watch's loop, one per master at a time (watchjobs.go). The topics a
// check could not check
// (owed) go into every check until one checks them, and a replay that
// Redis could not answer is tried again at the next interval. A shard
// connection that broke is replaced alone (repairShards), and the topics
// whose master it could not reach are homed again at later probe ticks,
// or once the slot map names a new master for them (homeMoved); only the
// classic connection's failure has watch return, for the supervisor to
// replace every connection.
func (e *Engine) watch(ctx context.Context, j *jobs) error {
	w := newWatcher(ctx, e, j)
	defer w.stop()
	probe := time.NewTicker(e.cfg.ProbeInterval)
	defer probe.Stop()
	check := time.NewTicker(e.cfg.CheckInterval)
	defer check.Stop()
	forget := time.NewTicker(max(e.cfg.HistoryTTL/2, e.cfg.CheckInterval))
	defer forget.Stop()
	mapPoll := time.NewTicker(slotMapPoll)
	defer mapPoll.Stop()
	rounds := newCheckRounds(time.Now()) // before the positions are read
	w.check(e.subs.all())
	w.catchUp()
	// The connection replaced may have lost the last joins and leaves
	// before it, which no later one shows: every topic's log is read.
	e.allMarksBehind()
	w.replay()
	// Topics whose master was out of reach are homed again at probe ticks,
	// backing off while it stays so: each try may wait out the timeout;
	// and at once when the slot map names another master for them.
	if e.shards.anyUnhomed() {
		w.rehomeAt = time.Now().Add(w.rehome.next())
	}
	var err error
	for {
		if errors.Is(err, errShardBroken) {
			w.repair()
			err = nil
		}
		if err != nil {
			return err
		}
		var polls <-chan time.Time // while topics wait: the slot map may name their new master
		if !w.rehomeAt.IsZero() {
			polls = mapPoll.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-polls:
			if e.homeMoved(ctx) {
				err = errShardBroken
			} else {
				e.shards.reloadSlotMap() // for the next poll
			}
		case <-e.psBroken:
			return errConnBroken
		case <-e.shardsBroken:
			if e.shards.anyBroken() { // else replaced since, with every connection
				err = errShardBroken
			}
		case <-e.marks.nudge:
			w.replay()
		case <-probe.C:
			w.controls()
			err = w.probe()
		case <-forget.C:
			e.subs.forgetIdle(e.cfg.HistoryTTL+e.cfg.ProbeInterval+e.cfg.Timeout, w.owedList())
		case <-check.C:
			if e.checksHeld.Load() {
				break
			}
			e.noteChecks(w.owedList())
			recent := e.subs.recent(rounds.window(time.Now(), e.cfg.CheckInterval))
			w.check(withOwed(recent, w.owedList()))
			w.catchUp() // if the last search failed
			if !w.replayed {
				w.replay()
			}
		case apply := <-w.done:
			err = apply()
		case <-j.freed:
			w.resume()
		}
	}
}

// watcher is what a watch keeps between the events of its loop. Only
// the watch's goroutine touches it; its jobs hand what they found back
// as functions that the loop runs (done).
type watcher struct {
	e       *Engine
	ctx     context.Context // ends with the watch, and with it the sends on done
	stop    context.CancelFunc
	jobs    *jobs
	done    chan func() error
	classic string // the classic connection's probe channel, for the jobs (see round)

	due   map[string]map[*topicState]bool // by master: topics to check once the master's check in flight ends
	owed  map[*topicState]uint64          // topics not checked since a check failed to, or left them, by when (see owe)
	owing uint64                          // counts the times a topic was found owed
	away  away                            // the masters that did not take their last periodic probe

	replayed, replayAgain bool // the last replay read every log; one is to start once the one in flight ends
	repairAgain           bool // a repair is to start once the one in flight ends
	rehome                backoff
	rehomeAt              time.Time // when topics waiting to be homed are tried again; zero: none wait
}

func newWatcher(ctx context.Context, e *Engine, j *jobs) *watcher {
	ctx, stop := context.WithCancel(ctx)
	return &watcher{e: e, ctx: ctx, stop: stop, jobs: j, done: make(chan func() error), classic: e.classicProbe,
		due: make(map[string]map[*topicState]bool), owed: make(map[*topicState]uint64), away: make(away),
		rehome: backoff{min: minBackoff, max: e.cfg.BackoffMax}}
}

// round is what a job starting now is handed.
func (w *watcher) round() round {
	return round{away: maps.Clone(w.away), classic: w.classic}
}

// start starts the job of key, unless one runs.
func (w *watcher) start(key jobKey, work func(context.Context) func() error) bool {
	return w.jobs.start(w.ctx, key, w.done, work)
}

// check has states checked, each with the other topics of its slot's
// master, once no check of that master is in flight; those of a master
// that did not take its last probe are owed until it does.
func (w *watcher) check(states []*topicState) {
	states = subscribed(states)
	topics := make([]string, len(states))
	for i, st := range states {
		topics[i] = st.topic
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.e.cfg.Timeout) // go-redis reads a slot map it has none of yet
	masters := w.e.slotMasters(ctx, topics)
	cancel()
	for i, st := range states {
		m := masters[i]
		if w.due[m] == nil {
			w.due[m] = make(map[*topicState]bool)
		}
		w.due[m][st] = true
	}
	w.dispatch()
}

// dispatch starts a check of the topics due on each master that has none
// in flight and took its last probe.
func (w *watcher) dispatch() {
	for m, due := range w.due {
		if w.away[m] {
			for st := range due {
				w.owe(st)
			}
			if w.e.checks.lastErr == nil {
				w.e.checks.lastErr = fmt.Errorf("herald/redis: check on %s: %w", m, errAway)
			}
			delete(w.due, m)
			continue
		}
		key := jobKey{checkJob, m}
		if w.jobs.running(key) {
			continue
		}
		states := make([]*topicState, 0, len(due))
		for st := range due {
			states = append(states, st)
		}
		r, owing := w.round(), w.owing
		if w.start(key, func(ctx context.Context) func() error {
			res := w.e.checkAll(ctx, states, r)
			return func() error { return w.checked(states, owing, res) }
		}) {
			delete(w.due, m)
		}
	}
}

// owe has st checked at the check rounds until one that starts after
// this checks it: a check already in flight read its position before,
// and does not cover what was published since (see checked).
func (w *watcher) owe(st *topicState) {
	w.owing++
	w.owed[st] = w.owing
}

// checked takes in what the check of states, started when w.owing was
// owing, found. It settles only what the topics owed then: one found
// owed while it ran (its shard replaced, and its master away) waits for
// a check that reads its position afterwards. Settling that too lost
// messages: a check of a stopped master's topic that waited on its read
// took the topic off the list once the master answered, though it had
// read the position before a message published ahead of the new shard's
// SSUBSCRIBE, and no later check looked at the topic.
func (w *watcher) checked(states []*topicState, owing uint64, res checked) error {
	for _, st := range states {
		if since, ok := w.owed[st]; ok && since <= owing {
			delete(w.owed, st)
		}
	}
	for _, st := range res.failed {
		w.owe(st)
	}
	if res.lastErr != nil && (!errors.Is(res.lastErr, errAway) || w.e.checks.lastErr == nil) {
		w.e.checks.lastErr = res.lastErr
	}
	if errors.Is(res.err, errShardBroken) && !w.e.shards.anyBroken() {
		return nil // replaced since
	}
	return res.err
}

// owedList returns the owed topics, and forgets those no subscription
// covers any more: an unsubscribed topic owes nothing, however its last
// check went.
func (w *watcher) owedList() []*topicState {
	out := make([]*topicState, 0, len(w.owed))
	for st := range w.owed {
		if isGone(st) {
			delete(w.owed, st)
			continue
		}
		out = append(out, st)
	}
	return out
}
