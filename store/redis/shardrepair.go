package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// errShardBroken is watch's answer when a shard's receive loop saw its
// connection fail, or Redis moved one of its channels away: only the
// broken shards are replaced (repairShards).
var errShardBroken = errors.New("sharded pub/sub connection broken")

// homeShards homes each of topics that still waits to be homed (see
// shards.unhomed) on the shard of its slot's master (one the node holds,
// or a new one), the masters in parallel, each within the timeout, and
// returns those Redis confirmed. A master that cannot be reached (dead,
// stuck, or named by a slot map not current yet) costs only its own
// topics: they are kept waiting, for repairShards to home again, and
// checks leave them until it has. Only the supervisor calls it, without
// psMu: Subscribe and Unsubscribe go on meanwhile, so a topic is homed
// only if it still waits when its turn comes (see adoptWaiting), and one
// that Subscribe homed or Unsubscribe let go is left to them.
func (e *Engine) homeShards(ctx context.Context, topics []string) (homed []string) {
	byMaster := make(map[string][]string)
	for _, t := range topics {
		addr := e.slotMaster(ctx, t)
		byMaster[addr] = append(byMaster[addr], t)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var missed, reached []string
	for addr, group := range byMaster {
		wg.Go(func() {
			e.log.Debug("subscribing topics on their master again", zap.String("master", addr), zap.Int("topics", len(group)))
			got, err := e.homeOn(ctx, group)
			if err != nil {
				e.log.Info("cannot subscribe topics on their master; trying again later", zap.String("master", addr),
					zap.Int("topics", len(group)), zap.Error(err))
			}
			mu.Lock()
			homed = append(homed, got...)
			if err != nil {
				missed = append(missed, addr)
			} else {
				reached = append(reached, addr)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	e.shards.noteHomings(missed, reached)
	return homed
}

// homeOn homes those of topics, which share a master, that still wait to
// be homed on its shard, and returns them once Redis confirmed them. On an
// error they wait again.
func (e *Engine) homeOn(ctx context.Context, topics []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	sh, err := e.shardFor(ctx, topics[0])
	if err != nil {
		return nil, fmt.Errorf("ssubscribe: %w", err)
	}
	e.shardFound()
	topics, moved := e.slotsHeld(ctx, sh, topics)
	adopted, err := e.adoptWaiting(ctx, sh, topics)
	e.shards.unclaim(sh) // its topics hold it now, unless none was left to home
	if err == nil && len(adopted) == 0 && moved == nil {
		return nil, nil // all let go meanwhile; pruneShards closes sh if no other topic needs it
	}
	if err == nil {
		// Redis runs one connection's commands in order: once a probe
		// subscription after them is confirmed, they are all active,
		// unless one was refused, which breaks the shard (see receive).
		err = e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", sh.probe, sh.failed)
	}
	if err == nil && e.shards.isBroken(sh) {
		err = errShardBroken
	}
	if err != nil {
		e.shards.unhome(sh, adopted, e.keys.shardChannel)
		return nil, fmt.Errorf("ssubscribe: %w", err)
	}
	if moved != nil { // they wait, and this master counts as missed until the map names their new one (homeMoved)
		return adopted, fmt.Errorf("ssubscribe: %w", moved)
	}
	return adopted, nil
}

// adoptWaiting homes on sh those of topics that still wait to be homed,
// and sends their SSUBSCRIBEs without waiting for the replies. It holds
// psMu, under which Unsubscribe lets a topic go and sends its
// SUNSUBSCRIBE, so that Redis never gets a topic's SSUBSCRIBE after the
// SUNSUBSCRIBE meant to end it; only the writes are done under it, which
// the socket's buffer takes at once. A shard already broken gets none:
// go-redis may be redialling it, which a stuck master makes last.
func (e *Engine) adoptWaiting(ctx context.Context, sh *shard, topics []string) (adopted []string, err error) {
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if e.shards.isBroken(sh) {
		return nil, errShardBroken
	}
	for _, t := range topics {
		channel := e.keys.shardChannel(t)
		if !e.shards.adoptWaiting(sh, t, channel) {
			continue
		}
		adopted = append(adopted, t)
		// One SSUBSCRIBE a channel: the channels of one command must share
		// a slot.
		if err := sh.ps.SSubscribe(ctx, channel); err != nil {
			return adopted, err
		}
	}
	return adopted, nil
}

// repairShards replaces the shards whose connections broke: it closes
// them, has the slot map read again, homes their topics again by it, and
// the topics left waiting before, and returns the states of those it
// homed, to be checked as after any reconnect. Topics whose master it
// cannot reach wait on, for a later call (watch paces them); the others
// are not held up, and neither is Subscribe: psMu is held only to take
// the broken shards. The supervisor runs one at a time, beside its other
// work (watcher.repair).
func (e *Engine) repairShards(ctx context.Context) []*topicState {
	e.psMu.Lock()
	broken := e.shards.takeBroken()
	e.psMu.Unlock()
	// Closing a connection whose master is stuck can take the timeout
	// (go-redis redials it, and waits for the handshake, under the lock
	// that Close takes): the topics are homed again meanwhile.
	var closing sync.WaitGroup
	closing.Go(func() { closeShards(broken) })
	defer closing.Wait()
	topics := e.shards.waiting()
	if len(topics) == 0 && len(broken) == 0 {
		return nil // replaced since, with every connection
	}
	e.shards.repairs.Add(1)
	e.stats.reconnects.Add(1)
	e.linkBroke()
	e.reloadOnTrouble() // the master may be gone
	homed := e.homeShards(ctx, topics)
	if len(homed) == 0 {
		return nil
	}
	e.pres.noteReconnect() // the shard's master answers: it may have lost entries
	e.log.Info("sharded pub/sub connection replaced", zap.Int("topics", len(homed)))
	e.marksBehind(homed) // replayed by watch
	return e.subs.statesOf(homed)
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

// adoptWaiting homes topic on sh if it still waits to be homed, and
// reports whether it did. sh may have broken meanwhile: the caller sees
// that before it counts the topic homed.
func (s *shards) adoptWaiting(sh *shard, topic, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unhomed[topic] {
		return false // unsubscribed, or homed by Subscribe, meanwhile
	}
	delete(s.unhomed, topic)
	sh.channels[channel] = true
	sh.topics++
	s.home[topic] = sh
	return true
}

// unhome has those of topics still homed on sh wait to be homed again;
// the others were let go, or homed elsewhere, meanwhile.
func (s *shards) unhome(sh *shard, topics []string, channel func(string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		if s.home[t] == sh {
			delete(s.home, t)
			delete(sh.channels, channel(t))
			sh.topics--
			s.unhomed[t] = true
		}
	}
}

// waiting returns the topics waiting to be homed; they wait until homed
// or let go.
func (s *shards) waiting() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.unhomed))
	for t := range s.unhomed {
		out = append(out, t)
	}
	return out
}

// takeBroken forgets the broken shards, and returns them, and has the
// topics homed on them wait to be homed again. psMu must be held, so
// that no Subscribe homes a topic on a shard being forgotten.
func (s *shards) takeBroken() (broken []*shard) {
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
			delete(s.home, t)
			s.unhomed[t] = true
		}
	}
	return broken
}
