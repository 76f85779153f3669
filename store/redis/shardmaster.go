package redis

import (
	"context"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"
)

// onSlotMaster returns an error when the node a new shard was opened on,
// through twin, is not the master of topic's slot: a replica that a slot
// map read before a failover still names. Redis 7 takes the SSUBSCRIBE of
// its master's slots on a replica, so when Redis unsubscribed a shard
// from a master that handed its slots over, the node subscribed its
// topics again on that master, a replica now, as its map still said. Their
// messages were lost there: a master passes its SPUBLISHes on to a
// replica only once it has learnt over the cluster bus that the node is
// its replica. In 6 handovers (CLUSTER FAILOVER TAKEOVER, 3 masters on
// loopback, cluster-node-timeout 60 s) the new master learnt it of the
// old one 0.2 to 5.1 s after the takeover, and a subscriber of the old
// one got nothing it published before. Nothing told the node: the
// shard's probe, sent then to the shard's own node, was served by the
// replica itself (it now goes to the slot's master: see shardLegs), and
// the periodic check reads only the topics that got messages.
//
// A read of a key of the slot tells, as a replica answers it MOVED (a twin
// sends no READONLY). It is sent once Redis confirmed the shard's probe
// channel: a master that hands its slots over after the read unsubscribes
// the shard, which is then replaced as any shard whose channel moved. On
// MOVED the caller closes the shard, go-redis reads the map again, and
// the topics are homed once it names their master: Subscribe tries again
// (the error wraps the MOVED: see masterWanted), and the supervisor homes
// them when its poll of the map names another master (homeMoved), then
// checks them. It costs a round trip when a shard is opened, and when
// Subscribe homes a topic on a shard it did not open (shardHolding).
func (e *Engine) onSlotMaster(ctx context.Context, twin *goredis.Client, topic string) error {
	err := twin.Exists(ctx, e.keys.meta(topic)).Err()
	if code, _ := refusal(err); code != "MOVED" {
		return nil // another failure tells nothing of the node's role: the probes watch the shard, as any
	}
	e.reloadOnTrouble()
	return fmt.Errorf("%s is not the master of the slot of %q: %w", twin.Options().Addr, topic, err)
}

// slotsHeld returns those of topics whose slots sh's node holds, and
// the error of a read of a key of the others' slots through sh's twin
// (nil: none), which answered MOVED: a slot map behind a move grouped
// them with that node's topics. Their SSUBSCRIBEs would be refused, and a
// refusal breaks the shard (see receive), with every topic just homed on
// it: the repair that homed them again by the same map opened another
// shard there, and so on until the map named the slot's new master, a
// connection and the check of every topic of the master each time. They
// wait instead, and the map is read again. A read that fails otherwise
// tells nothing of the slot, as in onSlotMaster: the topic is homed.
func (e *Engine) slotsHeld(ctx context.Context, sh *shard, topics []string) ([]string, error) {
	bySlot := make(map[uint16][]string)
	for _, t := range topics {
		bySlot[hashSlot(t)] = append(bySlot[hashSlot(t)], t)
	}
	pipe := sh.twin.Pipeline()
	reads := make(map[uint16]*goredis.IntCmd, len(bySlot))
	for slot, ts := range bySlot {
		reads[slot] = pipe.Exists(ctx, e.keys.meta(ts[0]))
	}
	_, _ = pipe.Exec(ctx) // each read's own error is below
	var moved error
	held := topics
	for slot, read := range reads {
		if code, _ := refusal(read.Err()); code == "MOVED" {
			moved = read.Err()
			held = slices.DeleteFunc(slices.Clone(held), func(t string) bool { return hashSlot(t) == slot })
		}
	}
	if moved != nil {
		e.reloadOnTrouble()
	}
	return held, moved
}
