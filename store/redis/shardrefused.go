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
// err, and reports whether it was a MOVED answer to SSUBSCRIBEs that
// Subscribe waits for: their waits end with err (see homeConfirmed,
// which takes each topic to the master the reply names), and sh, whose
// connection is fine and whose other topics stay subscribed, is kept. A
// slot that moves off the master between shardHolding's check and the
// SSUBSCRIBE had the shard broken, and every topic homed on it subscribed
// again and checked, for one subscribe.
//
// A MOVED names the slot, not the channel: every wait for a channel of
// that slot on sh ends, as Redis refuses each of them. A topic of the slot
// homed on sh with no such wait (the supervisor's homing sends its
// SSUBSCRIBEs without one: adoptWaiting) would be counted subscribed
// where Redis refused it, so then sh is broken and replaced as before,
// once the waits ended. Any other refusal breaks sh (see receive).
func (e *Engine) refusedOnShard(sh *shard, err error) bool {
	slot, ok := movedSlot(err)
	if !ok {
		return false
	}
	inSlot := func(channel string) bool {
		topic, ok := e.keys.topicOf(channel)
		return ok && hashSlot(topic) == slot
	}
	refused := e.acks.refuse(sh.ps, "ssubscribe", inSlot, err)
	if len(refused) == 0 || e.shards.homedUnrefused(sh, inSlot, refused) {
		return false
	}
	e.log.Debug("redis refused a sharded subscribe, its slot on another master now; following it",
		zap.Strings("channels", refused), zap.Error(err))
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

// homedUnrefused reports whether a channel that inSlot matches is
// homed on sh besides refused.
func (s *shards) homedUnrefused(sh *shard, inSlot func(string) bool, refused []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for channel := range sh.channels {
		if inSlot(channel) && !slices.Contains(refused, channel) {
			return true
		}
	}
	return false
}
