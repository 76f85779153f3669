package redis

import (
	"context"
	"time"
)

// slotMapPoll is how often, while topics wait to be homed again on
// Cluster, the supervisor has the slot map read again and looks whether it
// names a new master for one of them (homeMoved). go-redis reads the map
// at most once per 200 ms however often it is asked, so asking more often
// would find nothing sooner. The cost: a CLUSTER SLOTS every 200 ms from
// each node, to a node that answers, while a master of its topics is
// away; none while every topic is homed.
//
// Without it, the topics of a dead master were homed again only at probe
// ticks, backing off up to BackoffMax, by a slot map asked for at the tick
// before (go-redis reads it in the background): measured on a 3-master
// cluster on loopback with the default settings, a node delivered a
// topic again 1.2 to 2.9 s after the replica had taken over, which at 70
// messages/s and a history of 100 lost 80 to 96 messages each time.
const slotMapPoll = 200 * time.Millisecond

// noteHomings records, after homeShards, on which masters homing topics
// failed (missed) and on which it went through; once no topic waits,
// nothing is kept.
func (s *shards) noteHomings(missed, reached []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, addr := range missed {
		s.missed[addr] = true
	}
	for _, addr := range reached {
		delete(s.missed, addr)
	}
	if len(s.unhomed) == 0 {
		clear(s.missed)
	}
}

// homeMoved reports whether the slot map now names, for a topic waiting
// to be homed, a master on which homing did not fail last: the replica
// that took over a dead master's slots, say. Those topics are then homed
// at once, not at the next try the backoff allows. A master on which it
// failed gets no such try, so a dead or stuck one is not dialled more
// often than the backoff says. A map that knows no master for a topic
// (noMaster) names none.
func (e *Engine) homeMoved(ctx context.Context) bool {
	// The map is the client's copy, but one it must load first (none
	// yet) is read from the nodes: the supervisor's loop waits no longer.
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	for _, t := range e.shards.waiting() {
		if addr := e.slotMaster(ctx, t); addr != noMaster && !e.shards.missedOn(addr) {
			return true
		}
	}
	return false
}

// missedOn reports whether homing topics on the master at addr failed
// last.
func (s *shards) missedOn(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.missed[addr]
}

// reloadSlotMap has the shards' client read the slot map again, in the
// background.
func (s *shards) reloadSlotMap() {
	s.cc.ReloadState(context.Background())
}
