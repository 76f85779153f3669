package redis

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// reapBatch is how many entries one run of the reap script removes, and
// how many topics one SSCAN of a dead life's topic set returns: a dead
// node with many entries is cleaned up in steps that each hold Redis
// briefly.
const reapBatch = 256

// lapsedBatch bounds the dead lives one check looks at.
const lapsedBatch = 16

// reapLapsed cleans up after the lives whose heartbeat lapsed, each by
// the one node that takes its lock.
func (e *Engine) reapLapsed(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	lives, err := lapsedScript.Run(lctx, e.rdb, []string{e.keys.presNodes()}, lapsedBatch).StringSlice()
	cancel()
	if err != nil {
		e.log.Debug("cannot look for dead nodes now", zap.Error(err))
		return
	}
	for _, life := range lives {
		if err := e.reap(ctx, life); err != nil {
			e.log.Warn("cannot clean up after a dead node now", zap.String("life", life), zap.Error(err))
		}
	}
}

// reap removes the entries of a dead life, publishing their leaves, has
// the member events of the lost joins' leaves it reported and did not
// queue queued (queueLostOf), then forgets the life, unless another node
// holds its lock.
func (e *Engine) reap(ctx context.Context, life string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.PresenceLapse+e.cfg.Timeout)
	defer cancel()
	lock := e.keys.presReaper(life)
	ok, err := e.rdb.SetNX(ctx, lock, e.pres.currentLife(), e.cfg.PresenceLapse).Result()
	if err != nil || !ok {
		return err
	}
	defer e.rdb.Del(context.WithoutCancel(ctx), lock)
	set := e.keys.presTopics(life)
	removed := 0
	for cursor := uint64(0); ; {
		var topics []string
		topics, cursor, err = e.rdb.SScan(ctx, set, cursor, "", reapBatch).Result()
		if err != nil {
			return err
		}
		for _, t := range topics {
			n, err := e.reapTopic(ctx, t, life)
			removed += n
			if err != nil {
				return err
			}
		}
		if cursor == 0 {
			break
		}
	}
	if err := e.queueLostOf(ctx, life); err != nil {
		return err
	}
	if err := e.rdb.Del(ctx, set).Err(); err != nil {
		return err
	}
	if err := e.rdb.HDel(ctx, e.keys.presSynced(), life).Err(); err != nil {
		return err
	}
	if err := e.rdb.ZRem(ctx, e.keys.presNodes(), life).Err(); err != nil {
		return err
	}
	e.log.Info("cleaned up presence after a dead node", zap.String("life", life), zap.Int("sessions_looked_at", removed))
	return nil
}

// reapTopic runs the reap script on topic until the dead life owns no
// session there, and returns how many batches it ran.
func (e *Engine) reapTopic(ctx context.Context, topic, life string) (int, error) {
	if broker.CheckTopic(topic) != nil {
		return 0, nil // not ours to touch
	}
	classic, sharded := e.presenceChannels(topic)
	for runs := 1; ; runs++ {
		res, err := e.pubs.run(ctx, e.rdb, reapPresenceScript, e.presKeys(topic, life),
			life, reapBatch, classic, sharded, topic, e.logKeep.Load())
		left, leaves, _ := strings.Cut(res, "\n")
		e.membersChanged("\n" + leaves)
		if err != nil || left == "0" {
			return runs, err
		}
	}
}

// unindexIdle takes out of the life's topic set the topics where the node
// has no entry any more, once they pass the bound of idleTopics.
func (e *Engine) unindexIdle(ctx context.Context) {
	if _, idle := e.pres.idleTopics(); len(idle) == 0 {
		return
	}
	e.pres.gate.Lock() // no add to one of them in between
	defer e.pres.gate.Unlock()
	life, idle := e.pres.idleTopics()
	for len(idle) > 0 {
		n := min(len(idle), reapBatch)
		members := make([]any, n)
		for i, t := range idle[:n] {
			members[i] = t
		}
		uctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		err := e.rdb.SRem(uctx, e.keys.presTopics(life), members...).Err()
		cancel()
		if err != nil {
			return
		}
		e.pres.unindex(life, idle[:n])
		idle = idle[n:]
	}
}
