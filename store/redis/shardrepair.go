package redis

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// errShardBroken is watch's answer when a shard's receive loop saw its
// connection fail, or Redis moved one of its channels away: only the
// broken shards are replaced (repairShards).
var errShardBroken = errors.New("sharded pub/sub connection broken")

// homeShardsLocked homes each of topics on the shard of its slot's master
// (one the node holds, or a new one), master by master, each within the
// timeout, and returns those Redis confirmed. A master that cannot be
// reached (dead, stuck, or named by a slot map not current yet) costs only
// its own topics: they are kept unhomed, for repairShards to home again,
// and checks leave them until it has. Only the supervisor calls it, with
// psMu held.
func (e *Engine) homeShardsLocked(ctx context.Context, topics []string) (homed []string) {
	byMaster := make(map[string][]string)
	for _, t := range topics {
		addr := e.slotMaster(ctx, t)
		byMaster[addr] = append(byMaster[addr], t)
	}
	for addr, group := range byMaster {
		if err := e.homeOnLocked(ctx, group); err != nil {
			e.shards.leaveUnhomed(group, e.keys.shardChannel)
			e.log.Info("cannot subscribe topics on their master; trying again later", zap.String("master", addr),
				zap.Int("topics", len(group)), zap.Error(err))
			continue
		}
		homed = append(homed, group...)
	}
	return homed
}

// homeOnLocked homes topics, which share a master, on its shard and returns
// once Redis confirmed them. psMu must be held.
func (e *Engine) homeOnLocked(ctx context.Context, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	sh, err := e.shardFor(ctx, topics[0])
	if err != nil {
		return fmt.Errorf("ssubscribe: %w", err)
	}
	for _, t := range topics {
		e.shards.adopt(sh, t, e.keys.shardChannel(t))
		// One SSUBSCRIBE a channel: the channels of one command must share
		// a slot. They are written without waiting for their replies.
		if err := sh.ps.SSubscribe(ctx, e.keys.shardChannel(t)); err != nil {
			return fmt.Errorf("ssubscribe: %w", err)
		}
	}
	// Redis runs one connection's commands in order: once a probe
	// subscription after them is confirmed, they are all active, unless one
	// was refused, which breaks the shard (see receive).
	if err := e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", sh.probe, sh.failed); err != nil {
		return fmt.Errorf("ssubscribe: %w", err)
	}
	if e.shards.isBroken(sh) {
		return fmt.Errorf("ssubscribe: %w", errShardBroken)
	}
	return nil
}

// repairShards replaces the shards whose connections broke: it closes
// them, has the slot map read again, homes their topics again by it, and
// the topics left unhomed before, and checks those it homed as after any
// reconnect. It returns the states of those it could not check (see
// checkAll). Topics whose master it cannot reach stay unhomed, for a later
// call (watch paces them); the others are not held up.
func (e *Engine) repairShards(ctx context.Context) ([]*topicState, error) {
	e.psMu.Lock()
	broken, topics := e.shards.takeBroken()
	for _, sh := range broken {
		closeShard(sh)
	}
	topics = append(topics, e.shards.takeUnhomed()...)
	if len(topics) == 0 && len(broken) == 0 {
		e.psMu.Unlock()
		return nil, nil // replaced since, with every connection
	}
	e.shards.repairs.Add(1)
	e.stats.reconnects.Add(1)
	e.reloadOnTrouble() // the master may be gone
	homed := e.homeShardsLocked(ctx, topics)
	e.psMu.Unlock()
	if len(homed) == 0 {
		return nil, nil
	}
	e.log.Info("sharded pub/sub connection replaced", zap.Int("topics", len(homed)))
	e.marksBehind(homed) // replayed by watch
	return e.checkAll(ctx, e.subs.statesOf(homed))
}

// all returns every shard.
func (s *shards) all() []*shard {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*shard, 0, len(s.byAddr))
	for _, sh := range s.byAddr {
		out = append(out, sh)
	}
	return out
}

// isBroken reports whether sh's connection broke.
func (s *shards) isBroken(sh *shard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sh.broken
}

// anyBroken reports whether a shard's connection broke.
func (s *shards) anyBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.byAddr {
		if sh.broken {
			return true
		}
	}
	return false
}

// anyUnhomed reports whether a topic waits to be homed again.
func (s *shards) anyUnhomed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unhomed) > 0
}

// leaveUnhomed forgets where topics were homed, if anywhere, and keeps
// them as waiting to be homed again.
func (s *shards) leaveUnhomed(topics []string, channel func(string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		if sh := s.home[t]; sh != nil {
			delete(s.home, t)
			delete(sh.channels, channel(t))
			sh.topics--
		}
		s.unhomed[t] = true
	}
}

// takeUnhomed returns the topics waiting to be homed again, and forgets
// them.
func (s *shards) takeUnhomed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.unhomed))
	for t := range s.unhomed {
		out = append(out, t)
	}
	clear(s.unhomed)
	return out
}

// takeBroken removes the broken shards, and the homes of their topics,
// and returns both.
func (s *shards) takeBroken() (broken []*shard, topics []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, sh := range s.byAddr {
		if sh.broken {
			broken = append(broken, sh)
			delete(s.byAddr, addr)
		}
	}
	for t, sh := range s.home {
		if sh.broken {
			topics = append(topics, t)
			delete(s.home, t)
		}
	}
	return broken, topics
}
