package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// shardHolding is shardFor for Subscribe, on master (nil: the slot
// map's for topic): the shard it returns is on the master that holds
// topic's slot, checked before the topic's SSUBSCRIBE goes there. A slot
// map behind a move (a reshard, a failover) names the slot's old master,
// on which the node may hold a shard for other topics: Redis refused the
// SSUBSCRIBE there with MOVED, which broke the shard, and every topic
// homed on it was subscribed again and checked, for one subscribe. So a
// shard the call did not open itself (that one's opening checked the
// slot: onSlotMaster) is checked by the same read of a key of the slot
// through its twin, one round trip, and on MOVED the topic goes to the
// master the reply names (movedTo), up to maxMovedHops times. A slot that
// moves between the check and the SSUBSCRIBE has the SSUBSCRIBE refused,
// which homeConfirmed follows the same way (see refusedOnShard).
func (e *Engine) shardHolding(ctx context.Context, topic string, master *goredis.Client) (*shard, error) {
	if master == nil {
		var err error
		if master, err = e.shards.cc.MasterForKey(ctx, e.keys.shardChannel(topic)); err != nil {
			return nil, err
		}
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
		if hops == maxMovedHops {
			return nil, err
		}
		next, giveBack := e.movedTo(err, master)
		if next == nil {
			return nil, err
		}
		defer giveBack()
		master = next
	}
}

// maxMovedHops bounds the masters shardHolding, and homeConfirmed, follow
// MOVED to: a move the new master has not taken yet when asked sends the
// call back, and the slot map, read again meanwhile, settles it.
const maxMovedHops = 2

// movedTo returns a client of the master a MOVED reply that err wraps
// names, and the func to call once done with it; nil when err is no
// MOVED. It is the node client of the node's shard there, or the slot
// map's as read last (readMasters); else, for an address the node knows
// no master at (a replica promoted, or a master added, since the map was
// read), the twin at that address (twins.lendAt), made from the options
// of from, the client that got the reply: go-redis makes the Cluster's
// node clients alone (runstamp_nodes.go), and its map names the address
// only once read again, 20 to 200 ms on, which Subscribe would have
// waited for. The twin serves the shard's pub/sub and its check, which
// is what says the address is the slot's master (onSlotMaster: any other
// node answers MOVED). What following costs is bounded: Redis, not a
// client, writes the address, each subscribe follows at most
// maxMovedHops, the node opens one shard per address at a time
// (claimOrOpen), and a twin of an address the next read of the masters
// names no master at is closed once no shard or call holds it.
func (e *Engine) movedTo(err error, from *goredis.Client) (*goredis.Client, func()) {
	addr, ok := goredis.IsMovedError(err)
	if !ok {
		return nil, func() {}
	}
	if m := e.shards.knownMaster(addr); m != nil {
		return m, func() {}
	}
	return e.stamps.twins.lendAt(addr, from)
}

// knownMaster returns the client of the master at addr that the node
// has: the node client of its shard there, or the slot map's as read
// last (readMasters); nil when it has neither.
func (s *shards) knownMaster(addr string) *goredis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.byAddr[addr]; sh != nil {
		return sh.node
	}
	return s.masters[addr]
}
