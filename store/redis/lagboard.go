package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The lag board: a node whose delivery is behind (its transport's lag
// over HERALD_MAX_DELIVERY_LAG) says so here, and every node's publishers
// wait while any other node says so, as they wait for their own node's
// loops and readers. Without it, publishes made on one node and
// delivered on another went as fast as the publishing node took them,
// and the subscribers' node fell seconds behind.
//
// One sorted set: node -> until when its word holds (the node is the
// engine's own random id, which two nodes named alike do not share), in Redis's own clock
// (TIME), so that the nodes' clocks never matter. Its {#lag} hash tag,
// which no topic can be (a topic holds no '#'), keeps it in one slot on
// Cluster.
//
//	<prefix>{#lag}:behind   sorted set: node -> expiry, Unix ms of Redis's clock

func (k keys) lagBehind() string { return k.prefix + "{#lag}:behind" }

// lagScript marks a node behind for ARGV[3] ms (0: no longer), or tells
// whether a node other than ARGV[2] is behind. First it drops the words
// that no longer hold: those whose time ran out, and those scored further
// ahead than any node marks itself (maxBehindTTL), which a clock ahead of
// this one scored (a master replaced since by one whose clock is behind,
// or a clock stepped back): left, such a word would hold every other
// node's publishers once this clock came near it, though no node is
// behind.
//
// KEYS: the sorted set. ARGV: "mark" or "others", the node, the ms.
var lagScript = goredis.NewScript(`
local MAX = ` + strconv.FormatInt(maxBehindTTL.Milliseconds(), 10) + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + MAX), '+inf')
if ARGV[1] == 'mark' then
  local ms = tonumber(ARGV[3])
  if ms > 0 then
    redis.call('ZADD', KEYS[1], now + ms, ARGV[2])
    redis.call('PEXPIRE', KEYS[1], 60000)
  else
    redis.call('ZREM', KEYS[1], ARGV[2])
  end
  return 0
end
for _, node in ipairs(redis.call('ZRANGE', KEYS[1], 0, 1)) do
  if node ~= ARGV[2] then
    return 1
  end
end
return 0
`)

// maxBehindTTL is the longest a node's word that it is behind is taken
// for: far above the few ticks nodes mark themselves for (an eighth of
// HERALD_MAX_DELIVERY_LAG each). A word scored further ahead is stale
// (see lagScript).
const maxBehindTTL = 10 * time.Second

// MarkBehind says that this node's delivery is behind, for ttl (at most
// maxBehindTTL); ttl 0 says it no longer is.
func (e *Engine) MarkBehind(ctx context.Context, ttl time.Duration) error {
	ttl = min(ttl, maxBehindTTL)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	err := lagScript.Run(ctx, e.rdb, []string{e.keys.lagBehind()}, "mark", e.probeID, ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("herald/redis: mark delivery behind: %w", err)
	}
	return nil
}

// OthersBehind reports whether another node said its delivery is behind,
// and its word still holds.
func (e *Engine) OthersBehind(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	n, err := lagScript.Run(ctx, e.rdb, []string{e.keys.lagBehind()}, "others", e.probeID).Int()
	if err != nil {
		return false, fmt.Errorf("herald/redis: read nodes behind: %w", err)
	}
	return n == 1, nil
}
