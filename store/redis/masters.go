package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// On Redis Cluster each topic lives on one master, the one of its slot, and
// its messages come through the shard connection it is homed on. A master
// that does not answer (stuck, cut off, or dead until its replica takes
// over) must cost only its own topics: the supervisor checks and probes
// each master's topics in a job of its own, beside the others' (see
// watchjobs.go), and a round of checks that finds a master away, by a
// read that timed out or a probe that could not be had through it,
// leaves the topics that depend on it for the next round and checks the
// others. With one Redis (standalone, Sentinel) there is nothing to set
// apart: a read that times out ends the round, as every other would wait
// as long.

// away is the set of master addresses a round found not answering. Only
// the supervisor touches one.
type away map[string]bool

// merge adds the masters of other.
func (a away) merge(other away) {
	for addr := range other {
		a[addr] = true
	}
}

// errAway is the error of a topic left for the next round because its
// master did not answer in this one.
var errAway = errors.New("its master did not answer in this round")

// noMaster stands, on Cluster, for the master of a slot the slot map
// names none for (go-redis has no map at all yet: a slot missing from a
// map it has is given a random node). The topics of such slots are
// grouped under it as under one master's address: a read of them that
// timed out leaves them for the next round, and only them, as a master's
// own. It is no address, so no topic is homed on it.
const noMaster = "(no master known)"

// topicMasters is where each topic of a round depends on: the master its
// slot is on by the client's slot map, where its reads go (noMaster: none
// known), and the master of the shard connection it is homed on, where
// its messages come from ("": not homed, or not Cluster).
type topicMasters struct {
	slot, home []string
	unhomed    []bool                     // subscribed exactly, but on no shard now: not checkable
	clients    map[string]*goredis.Client // the masters of slot, by address, for a probe through them (see legsFor)
}

// mastersOf returns where each of topics depends on. With one Redis
// every address is "", which no round finds away.
func (e *Engine) mastersOf(ctx context.Context, topics []string) topicMasters {
	if !e.shards.on() {
		blank := make([]string, len(topics))
		return topicMasters{slot: blank, home: blank, unhomed: make([]bool, len(topics))}
	}
	m := topicMasters{slot: make([]string, len(topics)), clients: make(map[string]*goredis.Client)}
	m.home, m.unhomed = e.shards.homesOf(topics)
	for i, topic := range topics {
		var c *goredis.Client
		m.slot[i], c = e.slotMasterClient(ctx, topic)
		if c != nil {
			m.clients[m.slot[i]] = c
		}
	}
	return m
}

// slotMasters is the slot of mastersOf alone.
func (e *Engine) slotMasters(ctx context.Context, topics []string) []string {
	out := make([]string, len(topics))
	if e.shards.on() {
		for i, topic := range topics {
			out[i] = e.slotMaster(ctx, topic)
		}
	}
	return out
}

// slotMaster is the address of the master of topic's slot by the slot
// map, or noMaster when the map has none (the topic's reads will say
// why).
func (e *Engine) slotMaster(ctx context.Context, topic string) string {
	addr, _ := e.slotMasterClient(ctx, topic)
	return addr
}

// slotMasterClient is slotMaster, and the master's client (nil for
// noMaster).
func (e *Engine) slotMasterClient(ctx context.Context, topic string) (string, *goredis.Client) {
	if e.masterUnknown != nil && e.masterUnknown(topic) {
		return noMaster, nil
	}
	master, err := e.shards.cc.MasterForKey(ctx, e.keys.meta(topic))
	if err != nil {
		return noMaster, nil
	}
	return master.Options().Addr, master
}

// slotMasterOf is the address of the master of key's slot by the slot
// map ("": none known).
func (e *Engine) slotMasterOf(ctx context.Context, key string) string {
	if master := e.masterOf(ctx, key); master != nil {
		return master.Options().Addr
	}
	return ""
}

// masterOf is the client of the master of key's slot by the slot map
// (nil: none known, or not Cluster).
func (e *Engine) masterOf(ctx context.Context, key string) *goredis.Client {
	if !e.shards.on() {
		return nil
	}
	master, err := e.shards.cc.MasterForKey(ctx, key)
	if err != nil {
		return nil
	}
	return master
}

// round is what the supervisor hands a check or a replay that it runs
// beside its other work: the masters that did not take their last
// periodic probe, whose topics the round leaves (their reads and probe
// legs would only wait out the timeout), and the classic connection's
// probe channel as the round starts, which only the supervisor reads
// (openConnLocked sets it).
type round struct {
	away    away
	classic string
}

// awayFor reports whether the i-th topic depends on a master of a, or
// waits to be homed on its master's shard again.
func (m topicMasters) awayFor(a away, i int) bool {
	return m.unhomed[i] || a[m.slot[i]] || a[m.home[i]]
}

// awayErr is the error of the i-th topic left for the next round.
func (m topicMasters) awayErr(topic string, i int) error {
	return fmt.Errorf("herald/redis: check %q on %s: %w", topic, m.slot[i], errAway)
}

// homesOf returns the address of the shard each of topics is homed on
// ("": none), and whether it waits to be homed again.
func (s *shards) homesOf(topics []string) (homes []string, unhomed []bool) {
	homes, unhomed = make([]string, len(topics)), make([]bool, len(topics))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, topic := range topics {
		if sh := s.home[topic]; sh != nil {
			homes[i] = sh.addr
		}
		unhomed[i] = s.unhomed[topic]
	}
	return homes, unhomed
}
