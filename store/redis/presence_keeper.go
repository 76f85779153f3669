package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// parallelCalls bounds the presence calls the node sends at once when it
// removes or adds many entries (Close, a reclaim): the pipelines share
// their round trips.
const parallelCalls = 16

// keepPresence keeps the node's life registered, and cleans up after dead
// nodes, at start and then every third of the lapse, until ctx ends. A
// heartbeat every third of the lapse lets two in a row fail before the
// others take the node for dead; a dead node's entries are gone at most
// the lapse and a third after its last heartbeat (20 s by default), plus
// the time to remove them. A node whose heartbeat failed tries again
// every fifteenth of the lapse (retryBeat), so that after an outage of
// Redis every live node beats within about that of Redis's return; the
// cleanup after others waits for that, by the slowest lapse this node
// knows of (cleanupWait, tendPresence), and the check of the joins the
// node sent after a reconnect by its own (sendLostLeaves). A
// resync after a reconnect that failed is tried again as often, once the
// heartbeat goes through: the others' waits count on it too. Those tries
// run nothing else, as the other steps of a round would otherwise run
// every second through a failover of the heartbeats' master (a pending
// resync adding every entry again each time); they keep the period. A
// replaced pub/sub connection has a round run at once (noteReconnect).
func (e *Engine) keepPresence(ctx context.Context) {
	defer e.wg.Done()
	var h health
	lost := newLostJoins(e.stats.reconnects.Load())
	var checking sync.WaitGroup // the check of the joins sent: see checkLostJoins
	defer checking.Wait()
	// The check waits by the node's own lapse: a node slower to add its
	// entries back is waited for by the terms it tells (presence_terms.go).
	check := e.cfg.PresenceLapse / 3
	checking.Go(func() { e.checkLostJoins(ctx, lost, check) })
	var early <-chan time.Time // a full round before the next tick
	var retry <-chan time.Time // a round of the heartbeat, and the resync
	round := func(full bool) {
		sent := time.Now()
		lost.note(e.stats.reconnects.Load(), sent)
		wait := e.cleanupWait()
		healthy := h.lasted(sent, wait)
		ok, again := false, false
		if !e.pres.dead.Load() {
			ok, again = e.tendPresence(ctx, healthy, full)
		}
		h.beat(sent, ok)
		if ok && healthy {
			e.noteOthers()
			wait = e.cleanupWait()
		}
		if ok && h.lasted(sent, check) {
			lost.ask(sent, check)
		}
		early, retry = nil, nil
		if !ok || again {
			retry = time.After(retryBeat(e.cfg.PresenceLapse))
		}
		if !ok {
			return
		}
		// A round right as a wait ends: the cleanup's, or the check's.
		var next time.Duration
		if d := time.Until(h.since.Add(wait)); d > 0 {
			next = d
		}
		if d, ok := lost.due(time.Now(), check); ok && d > 0 && (next == 0 || d < next) {
			next = d
		}
		if next > 0 {
			early = time.After(next)
		}
	}
	round(true)
	tick := time.NewTicker(e.cfg.PresenceLapse / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			round(true)
		case <-early:
			round(true)
		case <-retry:
			round(false)
		case <-e.pres.reconnected:
			round(true)
		}
	}
}

// tendPresence is one round of keepPresence, and reports whether the
// heartbeat went through and whether a resync after a reconnect failed
// (again). A round that is not full, a retry, sends the heartbeat, and
// the resync if one is owed and the heartbeat went through. A full one
// cleans up after lapsed nodes only when its own heartbeats had gone
// through for the cleanup's wait (healthy) and this one does too. When
// Redis comes back after an outage longer than the lapse, every node
// finds every other lapsed: cleaning up at once would remove the entries
// of live nodes (sending their leaves, then their joins again) before
// they could beat. The wait is a third of the slowest lapse
// (cleanupWait), the heartbeats' period of that node, and a live node
// tries again every fifteenth of its lapse (retryBeat), so it has beaten
// by then unless its own way to Redis came back some seconds later than
// this node's. A whole lapse,
// as it waited before, put the cleanup after a node that died as a
// failover began past the 30 s of docs/protocol.md section 8 once the
// failover took more than about 14 s, which Redis Cluster's does with
// its default cluster-node-timeout (15 s): 18 to 23 s in 8 runs.
func (e *Engine) tendPresence(ctx context.Context, healthy, full bool) (ok, again bool) {
	lapsed, err := e.heartbeat(ctx)
	switch {
	case err != nil:
		e.log.Debug("presence heartbeat failed", zap.Error(err))
	case lapsed:
		e.reclaim(ctx)
	}
	if full {
		e.retryRemovals(ctx)
	}
	if full || err == nil {
		again = !e.resyncAfterReconnect(ctx)
	}
	if !full {
		return err == nil, again
	}
	e.resyncHeldTopics(ctx)
	if err == nil {
		if _, err := e.tellTerms(ctx, nil); err != nil {
			e.log.Debug("cannot tell the terms this node's entries are in now", zap.Error(err))
		}
	}
	if err == nil && healthy {
		e.reapLapsed(ctx)
		e.forgetUnregisteredTerms(ctx)
	}
	e.unindexIdle(ctx)
	return err == nil, again
}

// registerLife sends the life's first heartbeat unless it reached Redis
// already, so that no entry is added under a life nobody would clean up
// after.
func (e *Engine) registerLife(ctx context.Context) error {
	e.pres.regMu.Lock()
	registered := e.pres.registered
	e.pres.regMu.Unlock()
	if registered {
		return nil
	}
	_, err := e.heartbeat(ctx)
	return err
}

// heartbeat registers the life until the lapse from now, and reports
// whether it had lapsed meanwhile (a node paused, or cut off from Redis,
// for longer than the lapse): the others may have removed its entries.
func (e *Engine) heartbeat(ctx context.Context) (lapsed bool, err error) {
	e.pres.regMu.Lock()
	defer e.pres.regMu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	reply, err := heartbeatScript.Run(hctx, e.rdb, []string{e.keys.presNodes()},
		e.pres.currentLife(), e.cfg.PresenceLapse.Milliseconds()).StringSlice()
	if err != nil {
		return false, err
	}
	if len(reply) != 2 {
		return false, fmt.Errorf("herald/redis: heartbeat: a reply of %d values, want 2", len(reply))
	}
	if left, err := strconv.ParseInt(reply[1], 10, 64); err == nil {
		e.pres.othersLeft = left
	}
	if reply[0] == "0" && e.pres.registered {
		e.pres.lapsed = true
	}
	e.pres.registered = true
	return e.pres.lapsed, nil
}

// reclaim adds the node's entries again under a new life after its
// heartbeat lapsed: the entries the others removed (and sent leaves for)
// come back with joins, the others are taken over from the old life, so
// that cleaning up after it removes none of them. A reclaim that fails is
// tried again at the next round, with another life.
func (e *Engine) reclaim(ctx context.Context) {
	e.pres.gate.Lock()
	defer e.pres.gate.Unlock()
	if e.pres.closing {
		return
	}
	old := e.pres.currentLife()
	life := e.pres.renew()
	e.pres.regMu.Lock()
	e.pres.registered = false
	e.pres.regMu.Unlock()
	e.log.Warn("presence heartbeat had lapsed; adding this node's entries again", zap.String("old_life", old), zap.String("life", life))
	if err := e.registerLife(ctx); err != nil {
		e.log.Warn("cannot reclaim presence now", zap.Error(err))
		return
	}
	entries, _ := e.pres.snapshot()
	topics := make(map[string]bool)
	for _, p := range entries {
		if !topics[p.Topic] && e.shards.on() { // elsewhere the add script does it
			topics[p.Topic] = true
			tctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			err := e.rdb.SAdd(tctx, e.keys.presTopics(life), p.Topic).Err()
			cancel()
			if err != nil {
				e.log.Warn("cannot reclaim presence now", zap.Error(err))
				return
			}
			e.pres.indexed(life, p.Topic)
		}
	}
	failed := e.forEachEntry(ctx, entries, func(ctx context.Context, p broker.PresenceEntry) error {
		_, err := e.runAdd(ctx, p, life)
		if err == nil {
			e.pres.indexed(life, p.Topic)
		}
		return err
	})
	if failed > 0 {
		e.log.Warn("cannot reclaim presence now", zap.Int("failed", failed))
		return
	}
	e.pres.regMu.Lock()
	e.pres.lapsed = false
	e.pres.regMu.Unlock()
}

// forEachEntry runs fn on every entry, up to parallelCalls at once, each
// within the timeout, and returns how many it did not run or failed. It
// stops at the first failure: Redis is away or refusing, and a node with
// many entries would otherwise wait out a timeout for each of them.
func (e *Engine) forEachEntry(ctx context.Context, entries []broker.PresenceEntry, fn func(context.Context, broker.PresenceEntry) error) int {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	done := 0
	work := make(chan broker.PresenceEntry)
	var wg sync.WaitGroup
	for range min(parallelCalls, len(entries)) {
		wg.Go(func() {
			for p := range work {
				cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
				err := fn(cctx, p)
				cancel()
				if err != nil {
					stop()
					continue
				}
				mu.Lock()
				done++
				mu.Unlock()
			}
		})
	}
	for _, p := range entries {
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	return len(entries) - done
}

// leaveAll removes the node's entries as it closes, so that their leaves
// go at once rather than after the lapse, and refuses presence calls from
// then on; it reports whether it did (false when presence was closed
// already, or dead). What it cannot remove before ctx ends is left to
// the others, after the lapse, and so is the life while it has lost
// joins' leaves whose member events are not queued.
func (e *Engine) leaveAll(ctx context.Context) (closed bool) {
	e.pres.gate.Lock()
	defer e.pres.gate.Unlock()
	if e.pres.closing || e.pres.dead.Load() {
		return false
	}
	e.pres.closing = true
	entries, retry := e.pres.snapshot()
	life := e.pres.currentLife()
	failed := e.forEachEntry(ctx, append(entries, retry...), func(ctx context.Context, p broker.PresenceEntry) error {
		return e.runRemove(ctx, p, life)
	})
	if failed > 0 {
		e.log.Warn("presence entries left for the other nodes to remove", zap.Int("count", failed))
		return true
	}
	// Nothing of this life is left: forget it now rather than at the lapse,
	// its terms before its registration, which whoever cleans up after it
	// would find.
	e.untellTerms(ctx, life)
	dctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	_ = e.rdb.Del(dctx, e.keys.presTopics(life)).Err()
	if e.pres.lostQueued.pendingOf(life, time.Now()) {
		// Lost joins' leaves reported here whose member events the
		// webhooks stopped before queueing: the life is left to lapse,
		// and whoever cleans up after it queues them (presence_lost_queue.go).
		e.log.Warn("leaves of lost joins left for the other nodes to queue the member events of")
		return true
	}
	_ = e.rdb.Del(dctx, e.keys.presLostTopics(life)).Err()
	_ = e.rdb.ZRem(dctx, e.keys.presNodes(), life).Err()
	return true
}
