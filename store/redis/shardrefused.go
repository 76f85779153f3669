package redis

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// refusedOnShard takes Redis's refusal of a command on sh's connection,
// err, and reports whether it was a MOVED answer to an SSUBSCRIBE that
// Subscribe waits for: its wait ends with err (see homeConfirmed, which
// takes the topic to the master the reply names), and sh, whose
// connection is fine and whose other topics stay subscribed, is kept. A
// slot that moves off the master between shardHolding's check and the
// SSUBSCRIBE had the shard broken, and every topic homed on it subscribed
// again and checked, for one subscribe. The topic's home on sh is
// forgotten here.
//
// A MOVED names the slot, not the channel: it ends the first wait for a
// channel of that slot on sh (acks.takeFirst); a later one has its own
// reply to come. A topic of the slot homed on sh with no such wait (the
// supervisor's homing sends its SSUBSCRIBEs without one: adoptWaiting)
// may be the one Redis refused, and would be counted subscribed where
// Redis refused it, so then sh is broken and replaced as before, once the
// wait ended. Any other refusal breaks sh (see receive).
func (e *Engine) refusedOnShard(sh *shard, err error) bool {
	slot, ok := movedSlot(err)
	if !ok {
		return false
	}
	inSlot := func(channel string) bool {
		topic, ok := e.keys.topicOf(channel)
		return ok && hashSlot(topic) == slot
	}
	refused, wait, ok := e.acks.takeFirst(sh.ps, "ssubscribe", inSlot)
	if !ok {
		return false
	}
	// Left here, not by homeConfirmed once it runs: the MOVED of another
	// subscribe of the slot may come first, and find it homed unawaited.
	// Both before the wait ends: homeConfirmed may home it on sh again
	// then.
	topic, _ := e.keys.topicOf(refused)
	e.shards.leaveRefused(sh, topic, refused)
	awaited := func(channel string) bool { return e.acks.awaits(sh.ps, "ssubscribe", channel) }
	unawaited := e.shards.homedUnawaited(sh, inSlot, awaited)
	wait.refuse(err)
	if unawaited {
		return false
	}
	e.log.Debug("redis refused a sharded subscribe, its slot on another master now; following it",
		zap.String("channel", refused), zap.Error(err))
	return true
}

// movedSlot returns the slot a MOVED reply names ("MOVED <slot>
// <address>").
func movedSlot(err error) (uint16, bool) {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return 0, false
	}
	f := strings.Fields(reply.Error())
	if len(f) != 3 || f[0] != "MOVED" {
		return 0, false
	}
	slot, perr := strconv.ParseUint(f[1], 10, 16)
	if perr != nil || slot >= slotCount {
		return 0, false
	}
	return uint16(slot), true
}

// leaveRefused forgets topic's home on sh, whose master refused its
// SSUBSCRIBE: nothing is to be unsubscribed there, and Subscribe's
// failure, if it fails, sends no SUNSUBSCRIBE, which Redis would refuse
// too.
func (s *shards) leaveRefused(sh *shard, topic, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.home[topic] == sh {
		delete(s.home, topic)
		delete(sh.channels, channel)
		sh.topics--
	}
}

// homedUnawaited reports whether a channel that inSlot matches is homed
// on sh but not awaited.
func (s *shards) homedUnawaited(sh *shard, inSlot, awaited func(string) bool) bool {
	s.mu.Lock()
	var homed []string
	for channel := range sh.channels {
		if inSlot(channel) {
			homed = append(homed, channel)
		}
	}
	s.mu.Unlock()
	return slices.ContainsFunc(homed, func(channel string) bool { return !awaited(channel) }) // acks.mu is not taken under shards.mu
}
