package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// shardHolding is shardFor for Subscribe: the shard it returns is on
// the master that holds topic's slot, checked before the topic's
// SSUBSCRIBE goes there. A slot map behind a move (a reshard, a failover)
// names the slot's old master, on which the node may hold a shard for
// other topics: Redis refuses the SSUBSCRIBE there with MOVED, which
// breaks the shard (see receive), and every topic homed on it was
// subscribed again and checked, for one subscribe. So a shard the call
// did not open itself (that one's opening checked the slot:
// onSlotMaster) is checked by the same read of a key of the slot through
// its twin, one round trip, and on MOVED the topic goes to the master the
// reply names, when the node knows its client (a shard there, or the
// masters as the slot map read last named them; see knownMaster), else
// the call fails as the map's master wanted (masterWanted), for
// Subscribe to try again once go-redis read the map again. A slot that
// moves between the check and the SSUBSCRIBE still breaks the shard.
func (e *Engine) shardHolding(ctx context.Context, topic string) (*shard, error) {
	master, err := e.shards.cc.MasterForKey(ctx, e.keys.shardChannel(topic))
	if err != nil {
		return nil, err
	}
	for hops := 0; ; hops++ {
		sh, opened, err := e.shardOn(ctx, master, topic)
		if err == nil && !opened {
			e.shards.checking.Add(1)
			err = e.onSlotMaster(ctx, sh.twin, topic)
			e.shards.checking.Add(-1)
			if err != nil {
				e.shards.unclaim(sh)
			}
		}
		if err == nil {
			return sh, nil
		}
		if master = e.shards.movedTo(err); master == nil || hops == maxMovedHops {
			return nil, err
		}
	}
}

// maxMovedHops bounds the masters shardHolding follows MOVED to: a move
// the new master has not taken yet when asked sends the call back, and
// the slot map, read again meanwhile, settles it.
const maxMovedHops = 2

// movedTo returns the client of the master a MOVED reply that err wraps
// names, if the node knows one (see knownMaster); nil otherwise.
func (s *shards) movedTo(err error) *goredis.Client {
	addr, ok := goredis.IsMovedError(err)
	if !ok {
		return nil
	}
	return s.knownMaster(addr)
}

// knownMaster returns the client of the master at addr that the node
// has: the node client of its shard there, or the slot map's as read
// last (readMasters); nil when it has neither. Cluster clients are made
// by go-redis alone (runstamp_nodes.go), so none is made here.
func (s *shards) knownMaster(addr string) *goredis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.byAddr[addr]; sh != nil {
		return sh.node
	}
	return s.masters[addr]
}
