package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
// next probe tick (pruneShards), not at once: a probe leg still waiting
// on it then ends without a word on its master (see runLeg). One that a
// subscribe or the supervisor is about to home a topic on is kept
// (shardFor's claims).
//
// A shard's connection that breaks, whose master refuses one of its
// channels (MOVED; but for a Subscribe's SSUBSCRIBE, whose topic alone
// goes to the slot's master: refusedOnShard), or that Redis unsubscribes from a channel it still
// wants (the slot moved to another master: Redis 7 sends SUNSUBSCRIBE),
// is replaced alone by the supervisor (repairShards): its topics are
// homed again by the slot map and checked. When that fails (the map is
// not current yet, say), every connection is replaced with backoff and
// every tracked topic checked, as for the classic connection.
type shards struct {
	cc *goredis.ClusterClient // nil: not Cluster, and every channel is classic

	mu        sync.Mutex                 // guards the maps below; held briefly, receive loops take it
	byAddr    map[string]*shard          // by master address
	home      map[string]*shard          // topic → the shard its channel is subscribed on
	unhomed   map[string]bool            // topics subscribed but on no shard (lost with theirs, or their master out of reach): homeShards homes them
	missed    map[string]bool            // masters on which homing topics failed last, while topics wait (see homeMoved)
	masters   map[string]*goredis.Client // every master, by address, as the slot map read last named them (readMasters)
	mastersAt time.Time                  // when masters was read
	openings  map[string]*shardOpening   // by master address: the shard shardFor is opening there

	repairs     atomic.Uint64 // times broken shards were replaced alone
	masterWaits atomic.Uint64 // topics' subscribes tried again for want of their master (see Subscribe)
	checking    atomic.Int32  // shardHolding's reads of whether a shard's master holds a slot, under way
}

// shard is one master's sharded pub/sub connection.
type shard struct {
	addr     string
	node     *goredis.Client // the master's node client, as the Cluster client gave it
	twin     *goredis.Client // node's twin that ps comes from, whose connections skip the stamp
	giveBack func()          // ends the lend of twin (twins.lend), once ps is closed
	ps       *goredis.PubSub
	probe    string          // SPUBLISHed on, it comes back through ps
	channels map[string]bool // what ps should be subscribed to, probe included; shards.mu guards it
	topics   int             // how many of channels are topics'; shards.mu guards it
	leaving  map[string]int  // SUNSUBSCRIBEs sent whose replies have not come, by channel; shards.mu guards it
	broken   bool            // its receive loop saw it fail; shards.mu guards it
	claims   int             // shardFor's callers not done homing their topics on it: pruneShards keeps it; shards.mu guards it
	failed   chan struct{}   // closed when broken is set
	stop     *loopControl
	done     chan struct{} // closed when the receive loop has ended
}

func newShards(rdb goredis.UniversalClient) shards {
	cc, _ := rdb.(*goredis.ClusterClient)
	return shards{cc: cc, byAddr: make(map[string]*shard), home: make(map[string]*shard), unhomed: make(map[string]bool),
		missed: make(map[string]bool), openings: make(map[string]*shardOpening)}
}

// on reports whether exact topics go over sharded pub/sub.
func (s *shards) on() bool { return s.cc != nil }

// movedAway reports whether a SUNSUBSCRIBE of channel that came through
// sh was Redis's own, for a channel sh should still be subscribed to: the
// slot moved. The reply to one the node sent is not, even when the topic
// was subscribed again before it came (its last subscriber left and the
// next came at once): taken for a move, it had the shard replaced, and
// counted as a reconnect and an error, for nothing.
func (s *shards) movedAway(sh *shard, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := sh.leaving[channel]; n > 0 {
		if n == 1 {
			delete(sh.leaving, channel)
		} else {
			sh.leaving[channel] = n - 1
		}
		return false
	}
	return sh.channels[channel]
}

// leave notes a SUNSUBSCRIBE of channel about to be sent on sh (sent
// false: its send failed), so that its reply is not taken for Redis's
// own (movedAway).
func (s *shards) leave(sh *shard, channel string, sent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent {
		sh.leaving[channel]++
		return
	}
	if sh.leaving[channel]--; sh.leaving[channel] <= 0 {
		delete(sh.leaving, channel)
	}
}

// shardUnsubscribeLocked sends SUNSUBSCRIBE for topic on its shard. Like
// unsubscribeLocked, a failure is only logged. psMu must be held.
func (e *Engine) shardUnsubscribeLocked(ctx context.Context, topic string) {
	channel := e.keys.shardChannel(topic)
	sh := e.shards.release(topic, channel)
	if sh == nil {
		return
	}
	ctx, cancel := e.sharedWrite(ctx)
	defer cancel()
	e.shards.leave(sh, channel, true) // before the send: its reply may come before SUnsubscribe returns
	if err := sh.ps.SUnsubscribe(ctx, channel); err != nil {
		e.shards.leave(sh, channel, false)
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
	delete(s.unhomed, topic)
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
	delete(s.unhomed, topic)
	return sh
}

// shardFor returns the shard of topic's slot master, opening it, and
// subscribing its probe channel, when the node has none there. A shard
// that breaks meanwhile, or whose master refuses the channel (a slot map
// that is not current yet: MOVED), ends the wait. Subscribe and the
// supervisor (homeShards) call it without psMu; the callers that want a
// shard on a master while one is being opened there wait for that one
// (see claimOrOpen), so that a burst of subscribes opens one connection to
// the master, not one each.
//
// The shard comes claimed, and the caller unclaims it once it homed its
// topics there, or gave up: a shard no topic is homed on yet, just
// opened or found idle, would else be closed by a prune between the two
// (pruneShards, at the supervisor's probe tick), and the subscribe that
// opened it failed as unavailable, or the supervisor's homing of topics
// failed and waited for its next try.
func (e *Engine) shardFor(ctx context.Context, topic string) (*shard, error) {
	master, err := e.shards.cc.MasterForKey(ctx, e.keys.shardChannel(topic))
	if err != nil {
		return nil, err
	}
	sh, _, err := e.shardOn(ctx, master, topic)
	return sh, err
}

// shardOn is shardFor on master, and reports whether this call opened
// the shard, which checked then that master holds topic's slot
// (onSlotMaster).
func (e *Engine) shardOn(ctx context.Context, master *goredis.Client, topic string) (sh *shard, opened bool, err error) {
	addr := master.Options().Addr
	for {
		sh, opening := e.shards.claimOrOpen(addr, topic)
		if sh != nil {
			return sh, false, nil
		}
		if opening == nil { // this call opens it
			sh, err := e.openShard(ctx, master, topic)
			e.shards.opened(addr, err)
			return sh, err == nil, err
		}
		select {
		case <-opening.done:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("wait for the shard on %s: %w", addr, ctx.Err())
		}
		if opening.failsFor(topic) {
			return nil, false, opening.err
		}
	}
}

// openShard opens a shard on master for topic, subscribes its probe
// channel, and keeps it as the node's shard there (see shardFor).
func (e *Engine) openShard(ctx context.Context, master *goredis.Client, topic string) (*shard, error) {
	addr := master.Options().Addr
	twin, giveBack := e.stamps.twins.lend(master)
	sh := &shard{addr: addr, node: master, twin: twin, giveBack: sync.OnceFunc(giveBack), ps: twin.SSubscribe(e.runCtx), probe: e.keys.shardProbe(e.cfg.NodeID, topic),
		channels: make(map[string]bool), leaving: make(map[string]int), done: make(chan struct{}), failed: make(chan struct{}), stop: newLoopControl()}
	e.wg.Add(1)
	go e.receive(e.runCtx, sh.ps, sh.stop, sh.done, sh)
	if err := e.subscribeConfirmed(ctx, sh.ps, "ssubscribe", sh.probe, sh.failed); err != nil {
		closeShard(sh)
		return nil, fmt.Errorf("probe channel: %w", err)
	}
	if err := e.onSlotMaster(ctx, twin, topic); err != nil {
		closeShard(sh)
		return nil, err
	}
	kept := e.shards.keep(sh, e.runCtx)
	if kept != sh {
		closeShard(sh)
	}
	if kept == nil {
		return nil, fmt.Errorf("shard on %s: the engine is closing", addr)
	}
	return kept, nil
}

// shardFound runs afterShardFor, if a test set it: shardFor's callers
// call it once they have the shard, before they home their topics on it.
func (e *Engine) shardFound() {
	if e.afterShardFor != nil {
		e.afterShardFor()
	}
}

// at returns the shard on the master at addr (nil: none).
func (s *shards) at(addr string) *shard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byAddr[addr]
}

// shardOpening is a shard shardFor is opening on a master for a topic
// of slot: done is closed once it was kept or given up, err then set.
type shardOpening struct {
	slot uint16
	done chan struct{}
	err  error
}

// failsFor reports whether the opening's failure is also that of a
// shard wanted for topic: the master's (a dial refused, the connection
// broken), not the opener's own deadline, nor a refusal for the opener's
// slot alone (onSlotMaster's MOVED of a slot that moved off the master)
// when topic's slot is another, which the master may well hold: shared,
// it failed every subscribe to the master's topics for as long as
// subscribes to the moved slot's, by a map behind the move, opened the
// shard first.
func (o *shardOpening) failsFor(topic string) bool {
	switch {
	case o.err == nil, errors.Is(o.err, context.Canceled), errors.Is(o.err, context.DeadlineExceeded):
		return false
	case slotElsewhere(o.err):
		return hashSlot(topic) == o.slot
	}
	return true
}

// claimOrOpen returns the shard on the master at addr, claimed (see
// shardFor); or, when there is none, the opening under way there, for
// the caller to wait for; or neither, when the caller is to open it, and
// call opened once done (an opening for topic).
func (s *shards) claimOrOpen(addr, topic string) (*shard, *shardOpening) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.byAddr[addr]; sh != nil {
		sh.claims++
		return sh, nil
	}
	if o := s.openings[addr]; o != nil {
		return nil, o
	}
	s.openings[addr] = &shardOpening{slot: hashSlot(topic), done: make(chan struct{})}
	return nil, nil
}

// opened ends the opening at addr, which failed with err (nil: kept).
func (s *shards) opened(addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.openings[addr]
	delete(s.openings, addr)
	o.err = err
	close(o.done)
}

// unclaim ends a claim shardFor took on sh.
func (s *shards) unclaim(sh *shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh.claims--
}

// keep records sh, whose probe channel Redis confirmed, as the shard on
// its master, unless one was kept there meanwhile: it returns the one
// kept, claimed (see shardFor). Once life (the engine's run) ended it
// keeps none and returns nil: the supervisor's last detachShards, which
// comes after, may have gone, and a shard kept after it would hold its
// receive loop, and the engine's Close, until the clients are closed.
func (s *shards) keep(sh *shard, life context.Context) *shard {
	s.mu.Lock()
	defer s.mu.Unlock()
	if life.Err() != nil {
		return nil
	}
	if kept := s.byAddr[sh.addr]; kept != nil {
		kept.claims++
		return kept
	}
	sh.channels[sh.probe] = true
	sh.claims++
	s.byAddr[sh.addr] = sh
	return sh
}

// detachShards forgets every shard and leaves every topic homed on one
// waiting to be homed again (by resubscribe), and returns the shards for
// the caller to close once it let psMu go. psMu must be held, so that no
// Subscribe homes a topic on a shard being forgotten.
func (e *Engine) detachShards() []*shard {
	s := &e.shards
	s.mu.Lock()
	defer s.mu.Unlock()
	old := make([]*shard, 0, len(s.byAddr))
	for _, sh := range s.byAddr {
		old = append(old, sh)
	}
	for t := range s.home {
		s.unhomed[t] = true
	}
	s.byAddr, s.home = make(map[string]*shard), make(map[string]*shard)
	return old
}

// pruneShards closes the shards no topic is homed on any more, nor is
// about to be (a claim of shardFor's), so that the
// node listens only on the masters its subscribers need. The supervisor
// calls it before it probes: at its probe ticks, and once it subscribed
// everything again. It takes psMu
// (which a Subscribe homing a topic on an idle shard holds) only to pick
// them, not to close them.
func (e *Engine) pruneShards() {
	e.psMu.Lock()
	e.shards.mu.Lock()
	var idle []*shard
	for addr, sh := range e.shards.byAddr {
		if sh.topics == 0 && sh.claims == 0 {
			idle = append(idle, sh)
			delete(e.shards.byAddr, addr)
		}
	}
	e.shards.mu.Unlock()
	e.psMu.Unlock()
	closeShards(idle)
}

// closeShards closes each of shards, which the node no longer keeps.
func closeShards(shards []*shard) {
	for _, sh := range shards {
		closeShard(sh)
	}
}

// closeShard ends sh's connection, waits for its receive loop, and
// gives its twin back.
func closeShard(sh *shard) {
	sh.stop.stop()
	_ = sh.ps.Close()
	<-sh.done
	sh.giveBack()
}
