package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// On Cluster a topic's Subscribe waits on the topic's master up to three
// times: to open the node's shard there (a dial, and its probe channel's
// confirmation) when it holds none, or else to learn whether the slot is
// still its own (see shardHolding), for its SSUBSCRIBE's confirmation,
// and for the read of the topic's position (first, if due, for the stamp
// of the master's run keys: see stampFirst). None of them is under psMu,
// so a master that does not answer holds up no Subscribe or Unsubscribe
// of another topic, and no reconnect. What psMu kept in order still is:
//
//   - The SSUBSCRIBE is written under psMu, as every SUNSUBSCRIBE is, so
//     Redis never gets a topic's SSUBSCRIBE after the SUNSUBSCRIBE meant
//     to end it. A write goes to the socket's buffer at once, and a shard
//     that broke, or that the node no longer keeps, gets none (go-redis may
//     be redialling it): the try ends with errConnBroken, which Subscribe
//     tries again.
//   - The position is read once Redis confirmed the SSUBSCRIBE.
//   - Delivery starts (the topic's state and presence mark) under psMu,
//     and only while the topic is homed on the shard it was confirmed on.
//     The supervisor forgets shards, and has their topics wait to be homed
//     again, under psMu too (takeBroken, detachShards), and checks the
//     topics it homes again: a topic whose shard it forgets once delivery
//     started is checked for what the shard lost; one whose shard it
//     forgot before is subscribed again by Subscribe (errConnBroken), since
//     the confirmation may have come from the old connection before it
//     broke, or from the new one (acks are by channel).
//   - A subscribe that fails lets the topic go under psMu, sending its
//     SUNSUBSCRIBE to whichever shard it is homed on then.
//
// The broker serialises the calls for one pattern (remoteSubs): while a
// Subscribe of a topic runs, no Subscribe or Unsubscribe of that topic
// does.

// subscribeSharded is one try of Subscribe for a topic on Cluster.
func (e *Engine) subscribeSharded(ctx context.Context, topic string) error {
	var dropped *changeMark
	defer func() { dropped.handedOver() }() // once psMu is let go
	presence, fresh, err := e.beginSharded(ctx, topic)
	if err != nil || !fresh {
		return err
	}
	sh, err := e.homeConfirmed(ctx, topic)
	var pos broker.Position
	var tail string
	if err == nil {
		pos, tail, err = e.startOf(ctx, topic, presence)
	}
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if err == nil && !e.shards.homedOn(topic, sh) {
		err = e.fail("ssubscribe", errConnBroken)
	}
	if err != nil {
		e.subs.remove(topic) // Redis may keep the subscription; nothing passes the filter
		dropped = e.dropMark(topic)
		e.shardUnsubscribeLocked(ctx, topic) // so that its shard can close
		return err
	}
	e.startTopic(topic, pos)
	e.startMark(topic, tail)
	return nil
}

// beginSharded takes topic as subscribed, under psMu, unless it is
// already (fresh false). It reports whether the topic keeps presence.
func (e *Engine) beginSharded(ctx context.Context, topic string) (presence, fresh bool, err error) {
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if err := e.controlLocked(ctx); err != nil {
		return false, false, err
	}
	if e.subs.has(topic) {
		return false, false, nil
	}
	e.subs.add(topic)
	presence = e.keepsPresence(topic)
	if presence {
		e.openMark(topic) // before the subscribe, so that no change slips by
	}
	return presence, true, nil
}

// homeConfirmed homes topic on the shard of the master that holds its
// slot, opening that shard if the node holds none there, and returns the
// shard once Redis confirmed the subscription. A slot that moves between
// shardHolding's check and the SSUBSCRIBE has Redis refuse it with MOVED
// (see refusedOnShard): the topic leaves that shard, whose other topics
// stay, and goes to the master the reply names, as shardHolding follows
// one, up to maxMovedHops times.
func (e *Engine) homeConfirmed(ctx context.Context, topic string) (*shard, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	channel := e.keys.shardChannel(topic)
	var master *goredis.Client // the slot map's, at first
	for hops := 0; ; hops++ {
		sh, err := e.shardHolding(ctx, topic, master)
		var confirmed *ackWait
		if err == nil {
			e.shardFound()
			confirmed, err = e.sendShardSubscribe(ctx, sh, topic, channel)
			e.shards.unclaim(sh) // the topic holds it now, unless it broke
		}
		if err == nil {
			err = e.awaitConfirmed(ctx, sh.ps, "ssubscribe", channel, confirmed, sh.failed)
		}
		if err == nil {
			return sh, nil
		}
		if confirmed == nil || confirmed.refused == nil {
			return nil, e.fail("ssubscribe", err)
		}
		// refusedOnShard forgot the topic's home on sh.
		if hops == maxMovedHops {
			return nil, e.fail("ssubscribe", err)
		}
		next, giveBack := e.movedTo(err, sh.node)
		if next == nil {
			return nil, e.fail("ssubscribe", err)
		}
		master = next
		defer giveBack()
	}
}

// sendShardSubscribe homes topic on sh and sends its SSUBSCRIBE, under
// psMu, unless sh broke or is no longer the node's shard on its master
// (forgotten, or closed as idle, since shardFor returned it).
func (e *Engine) sendShardSubscribe(ctx context.Context, sh *shard, topic, channel string) (*ackWait, error) {
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if e.shards.at(sh.addr) != sh || e.shards.isBroken(sh) {
		return nil, errConnBroken
	}
	e.shards.adopt(sh, topic, channel)
	return e.sendSubscribe(ctx, sh.ps, "ssubscribe", channel)
}

// homedOn reports whether topic is homed on sh.
func (s *shards) homedOn(topic string, sh *shard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.home[topic] == sh
}
