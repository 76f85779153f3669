package redis

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The supervisor's watch runs its round trips to Redis as jobs beside its
// own loop: a check of the topics of one master, the periodic probe
// through one master, a replay of the change logs, a repair of broken
// shards, a read of the slot map's masters. At most one job of a kind
// runs per master at a time, each within the timeout, so that a master
// that does not answer (stopped, or cut off: its calls hang until the
// timeout) holds up only its own: the loop takes its tickers on time, and
// the other masters are probed and checked on their own schedule.
//
// Before, the loop made those calls itself. With one master of a 3-master
// cluster stopped, every probe tick waited out the timeout for it, and a
// check tick, drawn at random against the probe tick waiting beside it,
// came late; its check read the stopped master's positions too and waited
// as long. What pub/sub lost of a topic of a healthy master came after
// the timeout at best, and after several when the draws went badly (see
// testChecksBesideStuckMaster).

// jobKind is what a job does.
type jobKind int

const (
	checkJob    jobKind = iota // check the topics of one master (checkAll)
	probeJob                   // the periodic probe through one master (probeThrough)
	replayJob                  // read the change logs that fell behind (replayChanges)
	repairJob                  // replace the broken shards (repairShards)
	catchUpJob                 // look for the topics a break owes a catch-up (catchUpUntracked)
	mastersJob                 // read the slot map's masters (readMasters)
	controlsJob                // read the controls a break lost (catchUpControls)
)

// jobKey names a job: its kind, and the master it is about ("" for the
// kinds that are not one master's).
type jobKey struct {
	kind   jobKind
	master string
}

// jobs are the supervisor's jobs in flight. They outlive the watch that
// started them: a job still waiting for a master when its watch ended
// (the classic connection broke, and every connection is replaced) holds
// up neither the reconnect nor the next watch, which starts no job of
// the same key until it ends, and drops what it found. A call in flight
// is not cut short when its context ends, so a job ends within the
// timeout, not at once; the supervisor waits for them as it returns.
type jobs struct {
	mu    sync.Mutex
	busy  map[jobKey]bool
	wg    sync.WaitGroup
	freed chan struct{} // a token: a job ended, and another of its key may start
}

func newJobs() *jobs {
	return &jobs{busy: make(map[jobKey]bool), freed: make(chan struct{}, 1)}
}

// start runs work in a goroutine of its own, with ctx, unless a job of
// key is in flight, and reports whether it did. What work returns is
// sent on done, unless ctx ended first.
func (j *jobs) start(ctx context.Context, key jobKey, done chan<- func() error, work func(context.Context) func() error) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.busy[key] {
		return false
	}
	j.busy[key] = true
	j.wg.Go(func() {
		apply := work(ctx)
		j.free(key) // before the watch takes apply in, which may start the next one
		select {
		case done <- apply:
		case <-ctx.Done(): // its watch ended: what it found is of connections replaced since
		}
	})
	return true
}

// free ends the job of key, and tells the watch.
func (j *jobs) free(key jobKey) {
	j.mu.Lock()
	delete(j.busy, key)
	j.mu.Unlock()
	select {
	case j.freed <- struct{}{}:
	default: // told already
	}
}

// running reports whether a job of key is in flight.
func (j *jobs) running(key jobKey) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.busy[key]
}

// wait returns once every job has ended.
func (j *jobs) wait() { j.wg.Wait() }

// probe starts the periodic probe through each master that has none in
// flight, each on its own (probeTargets), and forgets the masters away
// that are no longer probed. While the node holds a pattern, it has the
// slot map's masters read again for the next one, beside them: go-redis
// may ask a master that does not answer first, and wait for it. It
// reports that topics waiting to be homed are to be tried again.
// Holding no pattern, it has the masters read every clusterReload all
// the same, so that the twins of addresses no longer a master's are
// closed (twins.go): a failover, or a node that moved, tells the node
// nothing of its own when it holds nothing there.
func (w *watcher) probe() error {
	e := w.e
	e.pruneShards()
	ctx, cancel := context.WithTimeout(w.ctx, e.cfg.Timeout)
	targets := e.probeTargets(ctx, w.classic)
	cancel()
	for addr := range w.away {
		if _, ok := targets[addr]; !ok {
			delete(w.away, addr)
		}
	}
	for addr, t := range targets {
		w.start(jobKey{probeJob, addr}, func(ctx context.Context) func() error {
			res, err := e.probeThrough(ctx, addr, t, w.classic)
			return func() error { return w.probed(addr, res, err) }
		})
	}
	if e.shards.on() && (e.patterns.holding.Load() || e.shards.mastersDue(e.cfg.mastersEvery)) {
		w.start(jobKey{mastersJob, ""}, func(ctx context.Context) func() error {
			_, _ = e.readMasters(ctx) // a failure keeps the masters read before
			return func() error { return nil }
		})
	}
	if !w.rehomeAt.IsZero() && time.Now().After(w.rehomeAt) {
		return errShardBroken
	}
	return nil
}

// probed takes in what the periodic probe through the master at addr
// found: whether it took the probe (its topics are checked only while it
// does), and the classic connection's failure, or a shard's.
func (w *watcher) probed(addr string, res probed, err error) error {
	switch {
	case err != nil:
		return err
	case res.unanswered[addr]:
		w.away[addr] = true
	default:
		delete(w.away, addr)
	}
	if res.broke && w.e.shards.anyBroken() {
		return errShardBroken
	}
	return nil
}

// replay starts a replay of the change logs that fell behind, or, while
// one is in flight, another once it ends.
func (w *watcher) replay() {
	r := w.round()
	if !w.start(jobKey{replayJob, ""}, func(ctx context.Context) func() error {
		all, err := w.e.replayChanges(ctx, r)
		return func() error {
			w.replayed = all
			if errors.Is(err, errShardBroken) && !w.e.shards.anyBroken() {
				return nil // replaced since
			}
			return err
		}
	}) {
		w.replayAgain = true
	}
}

// catchUp starts looking for the topics that breaks of the classic
// connection owe a catch-up, while one does and no search is in flight;
// those found are checked.
func (w *watcher) catchUp() {
	if since, _ := w.e.untracked.owed(); since.IsZero() {
		return
	}
	r := w.round()
	w.start(jobKey{catchUpJob, ""}, func(ctx context.Context) func() error {
		states := w.e.catchUpUntracked(ctx, r)
		return func() error {
			w.check(states)
			return nil
		}
	})
}

// repair starts replacing the broken shards, and homing the topics that
// wait, or, while a repair is in flight, another once it ends.
func (w *watcher) repair() {
	w.rehomeAt = time.Time{}
	if !w.start(jobKey{repairJob, ""}, func(ctx context.Context) func() error {
		homed := w.e.repairShards(ctx)
		return func() error {
			w.check(homed)
			if w.e.shards.anyUnhomed() {
				w.rehomeAt = time.Now().Add(w.rehome.next())
			} else {
				w.rehome.reset()
			}
			return nil
		}
	}) {
		w.repairAgain = true
	}
}

// resume starts what waited for a job to end.
func (w *watcher) resume() {
	w.dispatch()
	if w.replayAgain {
		w.replayAgain = false
		w.replay()
	}
	if w.repairAgain {
		w.repairAgain = false
		w.repair()
	}
}

// controls tries again to read the controls a break of the classic
// connection lost, while a catch-up is owed and none is in flight.
func (w *watcher) controls() {
	if !w.e.controlsOwed() {
		return
	}
	w.start(jobKey{controlsJob, ""}, func(ctx context.Context) func() error {
		_ = w.e.catchUpControls(ctx) // a failure leaves the debt for the next probe
		return func() error { return nil }
	})
}
