package redis

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// retryRemovals sends again the removals Redis did not take.
func (e *Engine) retryRemovals(ctx context.Context) {
	if _, retry := e.pres.snapshot(); len(retry) == 0 {
		return
	}
	e.pres.gate.Lock() // no add of the same entry in between
	defer e.pres.gate.Unlock()
	_, retry := e.pres.snapshot()
	life := e.pres.currentLife()
	e.forEachEntry(ctx, retry, func(ctx context.Context, p broker.PresenceEntry) error {
		err := e.runRemove(ctx, p, life)
		if err == nil {
			e.pres.removed(p)
		}
		return err
	})
}

// resyncAfterReconnect makes Redis hold exactly this node's entries again
// after a pub/sub connection was replaced, which a Redis that failed over
// or restarted causes: replication is asynchronous, so the new master may
// lack entries this node added (they are added again, with their joins)
// or hold entries it removed (they are removed, with their leaves). It
// costs a script per entry and a read per topic, so it runs only then.
// Once it went through, the node tells the terms of the masters it ran
// within (presence_terms.go): the checks of the joins sent on their
// topics wait for that. It reports whether none is owed any more: false
// when it failed.
func (e *Engine) resyncAfterReconnect(ctx context.Context) bool {
	seen := e.stats.reconnects.Load()
	if seen == e.pres.resynced.Load() {
		return true
	}
	e.pres.gate.Lock() // no add or remove in between
	defer e.pres.gate.Unlock()
	if e.pres.closing {
		return true // leaveAll removes them all
	}
	life := e.pres.currentLife()
	before := e.masterTerms(ctx) // a term still the same after held every add made on its master
	entries, _ := e.pres.snapshot()
	failed := e.forEachEntry(ctx, entries, func(ctx context.Context, p broker.PresenceEntry) error {
		_, err := e.runAdd(ctx, p, life)
		return err
	})
	if failed > 0 {
		e.log.Debug("presence not checked against Redis after a reconnect; trying again", zap.Int("failed", failed))
		return false
	}
	if err := e.removeStrays(ctx, life); err != nil {
		e.log.Debug("presence not checked against Redis after a reconnect; trying again", zap.Error(err))
		return false
	}
	untold, err := e.tellTerms(ctx, before)
	if err != nil {
		e.log.Debug("cannot tell the terms this node's entries are in now", zap.Error(err))
	}
	if untold {
		e.log.Debug("presence checked against Redis after a reconnect, but a master changed meanwhile; checking again")
		return false
	}
	e.pres.resynced.Store(seen)
	e.log.Info("presence checked against Redis after a reconnect", zap.Int("entries", len(entries)))
	return true
}

// removeStrays removes the sessions Redis lists as life's on the topics
// of its topic set that this node does not hold.
func (e *Engine) removeStrays(ctx context.Context, life string) error {
	for _, topic := range e.pres.indexedTopics() {
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		sessions, err := e.rdb.SMembers(rctx, e.keys.presOwned(topic, life)).Result()
		cancel()
		if err != nil {
			return err
		}
		strays := e.pres.strays(topic, sessions)
		if e.forEachEntry(ctx, strays, func(ctx context.Context, p broker.PresenceEntry) error {
			return e.runRemove(ctx, p, life)
		}) > 0 {
			return errors.New("herald/redis: stray presence entries not removed")
		}
	}
	return nil
}
