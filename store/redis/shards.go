package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// shards are, on Redis Cluster, the node's sharded pub/sub connections:
// one per master that owns the slot of a topic this node subscribed, with
// SSUBSCRIBE to the sharded channels of the topics homed on it. go-redis's
// ClusterClient.SSubscribe will not do: its one connection goes to the
// master of the first channel's slot, and a channel of another slot is
// refused there. So the engine keeps a PubSub per master address, each
// with its own receive loop, and homes a topic by its channel's slot.
//
// Each shard has a probe channel in the slot of the topic it was opened
// for (its anchor), so that a probe SPUBLISHed there crosses that shard's
// connection. A shard whose last topic went is closed at the supervisor's
// next probe (pruneShards), not at once, so that a probe in flight still
// gets its copy back.
//
// A shard's connection that breaks, whose master refuses one of its
// channels (MOVED), or that Redis unsubscribes from a channel it still
// wants (the slot moved to another master: Redis 7 sends SUNSUBSCRIBE),
// is replaced alone by the supervisor (repairShards): its topics are
// homed again by the slot map and checked. When that fails (the map is
// not current yet, say), every connection is replaced with backoff and
// every tracked topic checked, as for the classic connection.
type shards struct {
	cc *goredis.ClusterClient // nil: not Cluster, and every channel is classic

	mu     sync.Mutex        // guards the maps below; held briefly, receive loops take it
	byAddr map[string]*shard // by master address
	home   map[string]*shard // topic → the shard its channel is subscribed on

	repairs atomic.Uint64 // times broken shards were replaced alone
}

// shard is one master's sharded pub/sub connection.
type shard struct {
	addr     string
	ps       *goredis.PubSub
	probe    string          // SPUBLISHed on, it comes back through ps
	channels map[string]bool // what ps should be subscribed to, probe included; shards.mu guards it
	topics   int             // how many of channels are topics'; shards.mu guards it
	broken   bool            // its receive loop saw it fail; shards.mu guards it
	failed   chan struct{}   // closed when broken is set
	stop     atomic.Bool
	done     chan struct{} // closed when the receive loop has ended
}

func newShards(rdb goredis.UniversalClient) shards {
	cc, _ := rdb.(*goredis.ClusterClient)
	return shards{cc: cc, byAddr: make(map[string]*shard), home: make(map[string]*shard)}
}

// on reports whether exact topics go over sharded pub/sub.
func (s *shards) on() bool { return s.cc != nil }

// wants reports whether sh should still be subscribed to channel: a
// SUNSUBSCRIBE of it that Redis sent by itself means the slot moved.
func (s *shards) wants(sh *shard, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sh.channels[channel]
}

// shardSubscribeLocked homes topic on the shard of its slot's master,
// opening that shard if the node has none there, and returns once Redis
// confirmed the subscription. psMu must be held.
func (e *Engine) shardSubscribeLocked(ctx context.Context, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	channel := e.keys.shardChannel(topic)
	sh, err := e.shardFor(ctx, topic)
	if err == nil {
		e.shards.adopt(sh, topic, channel)
		if err = e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", channel, sh.failed); err != nil {
			e.shards.release(topic, channel)
		}
	}
	if err != nil {
		return e.fail("ssubscribe", err)
	}
	return nil
}

// shardUnsubscribeLocked sends SUNSUBSCRIBE for topic on its shard. Like
// unsubscribeLocked, a failure is only logged. psMu must be held.
func (e *Engine) shardUnsubscribeLocked(ctx context.Context, topic string) {
	channel := e.keys.shardChannel(topic)
	sh := e.shards.release(topic, channel)
	if sh == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := sh.ps.SUnsubscribe(ctx, channel); err != nil {
		e.log.Warn("pub/sub command failed", zap.String("cmd", "sunsubscribe"), zap.String("channel", channel),
			zap.Error(fmt.Errorf("herald/redis: %w", err)))
	}
}

// adopt records topic as homed on sh. A topic homed already is not
// counted twice: the supervisor's first subscribe of everything can come
// after Subscribe homed it.
func (s *shards) adopt(sh *shard, topic, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.home[topic]; old != nil {
		delete(old.channels, channel)
		old.topics--
	}
	sh.channels[channel] = true
	sh.topics++
	s.home[topic] = sh
}

// release forgets where topic is homed and returns its shard (nil: none).
func (s *shards) release(topic, channel string) *shard {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.home[topic]
	if sh != nil {
		delete(s.home, topic)
		delete(sh.channels, channel)
		sh.topics--
	}
	return sh
}

// shardFor returns the shard of topic's slot master, opening it, and
// subscribing its probe channel, when the node has none there. A shard
// that breaks meanwhile, or whose master refuses the channel (a slot map
// that is not current yet: MOVED), ends the wait. psMu must be held.
func (e *Engine) shardFor(ctx context.Context, topic string) (*shard, error) {
	master, err := e.shards.cc.MasterForKey(ctx, e.keys.shardChannel(topic))
	if err != nil {
		return nil, err
	}
	addr := master.Options().Addr
	e.shards.mu.Lock()
	sh := e.shards.byAddr[addr]
	e.shards.mu.Unlock()
	if sh != nil {
		return sh, nil
	}
	sh = &shard{addr: addr, ps: master.SSubscribe(e.runCtx), probe: e.keys.shardProbe(e.cfg.NodeID, topic),
		channels: make(map[string]bool), done: make(chan struct{}), failed: make(chan struct{})}
	e.wg.Add(1)
	go e.receive(e.runCtx, sh.ps, &sh.stop, sh.done, sh)
	if err := e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", sh.probe, sh.failed); err != nil {
		closeShard(sh)
		return nil, fmt.Errorf("probe channel: %w", err)
	}
	e.shards.mu.Lock()
	sh.channels[sh.probe] = true
	e.shards.byAddr[addr] = sh
	e.shards.mu.Unlock()
	return sh, nil
}

// subscribeShardsLocked homes every topic again on a fresh set of shards
// (replaceConn closed the old ones) and returns once Redis confirmed them
// all. Only the supervisor calls it, with psMu held.
func (e *Engine) subscribeShardsLocked(ctx context.Context, topics []string) error {
	used := make(map[*shard]bool)
	for _, t := range topics {
		sh, err := e.shardFor(ctx, t)
		if err != nil {
			return fmt.Errorf("ssubscribe: %w", err)
		}
		e.shards.adopt(sh, t, e.keys.shardChannel(t))
		used[sh] = true
		// One SSUBSCRIBE a channel: the channels of one command must share
		// a slot. They are written without waiting for their replies.
		if err := sh.ps.SSubscribe(ctx, e.keys.shardChannel(t)); err != nil {
			return fmt.Errorf("ssubscribe: %w", err)
		}
	}
	for sh := range used {
		// Redis runs one connection's commands in order: once a probe
		// subscription after them is confirmed, they are all active, unless
		// one was refused, which breaks the shard (see receive).
		if err := e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", sh.probe, sh.failed); err != nil {
			return fmt.Errorf("ssubscribe: %w", err)
		}
		if e.shards.anyBroken() {
			return fmt.Errorf("ssubscribe: %w", errShardBroken)
		}
	}
	return nil
}

// closeShards closes every shard and forgets what was homed on them.
func (e *Engine) closeShards() {
	e.shards.mu.Lock()
	old := e.shards.byAddr
	e.shards.byAddr, e.shards.home = make(map[string]*shard), make(map[string]*shard)
	e.shards.mu.Unlock()
	for _, sh := range old {
		closeShard(sh)
	}
}

// pruneShards closes the shards no topic is homed on any more, so that the
// node listens only on the masters its subscribers need. The supervisor
// calls it before a probe, when no probe is in flight.
func (e *Engine) pruneShards() {
	e.psMu.Lock()
	defer e.psMu.Unlock()
	e.shards.mu.Lock()
	var idle []*shard
	for addr, sh := range e.shards.byAddr {
		if sh.topics == 0 {
			idle = append(idle, sh)
			delete(e.shards.byAddr, addr)
		}
	}
	e.shards.mu.Unlock()
	for _, sh := range idle {
		closeShard(sh)
	}
}

// closeShard ends sh's connection and waits for its receive loop.
func closeShard(sh *shard) {
	sh.stop.Store(true)
	_ = sh.ps.Close()
	<-sh.done
}

// errShardBroken is watch's answer when a shard's receive loop saw its
// connection fail, or Redis moved one of its channels away: only the
// broken shards are replaced (repairShards).
var errShardBroken = errors.New("sharded pub/sub connection broken")

// repairShards replaces the shards whose connections broke: it closes
// them, has the slot map read again, homes their topics again by it (on
// shards the node holds, or new ones) and checks those topics as after
// any reconnect. It returns the states of those it could not check (see
// checkAll). An error has the supervisor replace every connection, with
// backoff.
func (e *Engine) repairShards(ctx context.Context) ([]*topicState, error) {
	e.psMu.Lock()
	broken, topics := e.shards.takeBroken()
	for _, sh := range broken {
		closeShard(sh)
	}
	if len(broken) == 0 {
		e.psMu.Unlock()
		return nil, nil // replaced since, with every connection
	}
	e.shards.repairs.Add(1)
	e.stats.reconnects.Add(1)
	e.reloadOnTrouble() // the master may be gone
	sctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	err := e.subscribeShardsLocked(sctx, topics)
	cancel()
	e.psMu.Unlock()
	if err != nil {
		return nil, err
	}
	e.log.Info("sharded pub/sub connection replaced", zap.Int("topics", len(topics)))
	e.marksBehind(topics) // replayed by watch
	return e.checkAll(ctx, e.subs.statesOf(topics))
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
