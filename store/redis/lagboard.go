package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// The lag board: a node whose delivery is behind (its transport's lag
// over HERALD_MAX_DELIVERY_LAG) says so here, with the topics it is busy
// delivering, and every other node's publishes to those topics wait
// while it says so, as they wait for their own node's loops and readers.
// Without it, publishes made on one node and delivered on another went
// as fast as the publishing node took them, and the subscribers' node
// fell seconds behind; with one word for all topics, one hot topic held
// every publisher of the cluster.
//
// A sorted set: node -> until when its word holds (the node is the
// engine's own random id, which two nodes named alike do not share), in
// Redis's own clock (TIME), so that the nodes' clocks never matter. And a
// hash beside it: node -> "<gen>\n<topics, one a line>", or "<gen>\n*"
// for all topics; gen numbers the node's lists, so that an unchanged list
// is neither written again nor read again. A node in the set without a
// list (a release before the lists) holds every topic. Their {#lag} hash
// tag, which no topic can be (a topic holds no '#'), keeps both in one
// slot on Cluster.
//
//	<prefix>{#lag}:behind   sorted set: node -> expiry, Unix ms of Redis's clock
//	<prefix>{#lag}:topics   hash: node -> its list

func (k keys) lagBehind() string { return k.prefix + "{#lag}:behind" }
func (k keys) lagTopics() string { return k.prefix + "{#lag}:topics" }

// lagScript marks a node behind for ARGV[3] ms (0: no longer), or reads
// the other nodes behind. First it drops the words that no longer hold,
// lists with them: those whose time ran out, and those scored further
// ahead than any node marks itself (maxBehindTTL), which a clock ahead of
// this one scored (a master replaced since by one whose clock is behind,
// or a clock stepped back): left, such a word would hold every other
// node's publishers once this clock came near it, though no node is
// behind.
//
// KEYS: the sorted set, the hash.
//
// ARGV "mark", node, ms, gen[, list]: with a list, stores it as the
// node's gen; without, returns 1 when the node's stored list is not gen
// (gone with its word, or never written), for the caller to send it.
//
// ARGV "others", node, then pairs of another node and the gen of its
// list the caller has: returns, for each other node behind, the node and
// its list; just the gen when the caller has it; "" when it has none.
var lagScript = goredis.NewScript(`
local MAX = ` + strconv.FormatInt(maxBehindTTL.Milliseconds(), 10) + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function drop(min, max)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[1], min, max)
  if #gone > 0 then
    redis.call('ZREM', KEYS[1], unpack(gone))
    redis.call('HDEL', KEYS[2], unpack(gone))
  end
end
drop('-inf', '(' .. now)
drop('(' .. (now + MAX), '+inf')
if ARGV[1] == 'mark' then
  local ms = tonumber(ARGV[3])
  if ms == 0 then
    redis.call('ZREM', KEYS[1], ARGV[2])
    redis.call('HDEL', KEYS[2], ARGV[2])
    return 0
  end
  redis.call('ZADD', KEYS[1], now + ms, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 60000)
  if ARGV[5] then
    redis.call('HSET', KEYS[2], ARGV[2], ARGV[4] .. '\n' .. ARGV[5])
    redis.call('PEXPIRE', KEYS[2], 60000)
    return 0
  end
  local cur = redis.call('HGET', KEYS[2], ARGV[2])
  if cur and string.sub(cur, 1, #ARGV[4] + 1) == ARGV[4] .. '\n' then
    redis.call('PEXPIRE', KEYS[2], 60000)
    return 0
  end
  return 1
end
local known = {}
for i = 3, #ARGV, 2 do
  known[ARGV[i]] = ARGV[i + 1]
end
local out = {}
for _, node in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if node ~= ARGV[2] then
    local list = redis.call('HGET', KEYS[2], node) or ''
    local gen = string.match(list, '^[^\n]*')
    if list ~= '' and known[node] == gen then
      list = gen
    end
    out[#out + 1] = node
    out[#out + 1] = list
  end
end
return out
`)

// maxBehindTTL is the longest a node's word that it is behind is taken
// for: far above the few ticks nodes mark themselves for (an eighth of
// HERALD_MAX_DELIVERY_LAG each). A word scored further ahead is stale
// (see lagScript).
const maxBehindTTL = 10 * time.Second

// MaxBehindTopics is the most topics a node behind lists; a longer list
// is stored as "all topics" (docs/protocol.md section 3). Each is a
// valid topic, so a list costs Redis at most
// MaxBehindTopics*(broker.MaxTopicBytes+1) bytes a node.
const MaxBehindTopics = 32

// BehindTopicsLimit is MaxBehindTopics, for the node that picks the
// topics it lists.
func (e *Engine) BehindTopicsLimit() int { return MaxBehindTopics }

// lagMarks is what this node last stored on the board, so that an
// unchanged list is not sent again.
type lagMarks struct {
	mu     sync.Mutex
	gen    uint64   // of the list last sent; a list gets a new one each time, never one used before
	stored bool     // the board took the list gen stands for, as far as this node knows
	topics []string // that list; nil: all topics
}

// MarkBehind says that this node's delivery is behind, for ttl (at most
// maxBehindTTL), on topics: those it is busy delivering; nil, or more
// than MaxBehindTopics, or one that is no topic: on all of them. ttl 0
// says it no longer is. The list is written when it changed since the
// last mark, or is no longer on the board.
func (e *Engine) MarkBehind(ctx context.Context, ttl time.Duration, topics []string) error {
	ttl = min(ttl, maxBehindTTL)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	m := &e.lagMarks
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := []string{e.keys.lagBehind(), e.keys.lagTopics()}
	if ttl <= 0 {
		m.stored = false
		if err := lagScript.Run(ctx, e.rdb, keys, "mark", e.probeID, 0).Err(); err != nil {
			return fmt.Errorf("herald/redis: withdraw delivery behind: %w", err)
		}
		return nil
	}
	topics = boardTopics(topics)
	if m.stored && slices.Equal(m.topics, topics) && (m.topics == nil) == (topics == nil) {
		missing, err := lagScript.Run(ctx, e.rdb, keys, "mark", e.probeID, ttl.Milliseconds(), m.gen).Int()
		if err != nil {
			return fmt.Errorf("herald/redis: mark delivery behind: %w", err)
		}
		if missing == 0 {
			return nil
		}
	}
	list := "*"
	if topics != nil {
		list = strings.Join(topics, "\n")
	}
	m.gen++
	m.stored, m.topics = false, topics
	if err := lagScript.Run(ctx, e.rdb, keys, "mark", e.probeID, ttl.Milliseconds(), m.gen, list).Err(); err != nil {
		return fmt.Errorf("herald/redis: mark delivery behind: %w", err)
	}
	m.stored = true
	return nil
}

// boardTopics is topics as the board keeps them: sorted, without
// repeats; nil for all topics.
func boardTopics(topics []string) []string {
	if len(topics) == 0 || len(topics) > MaxBehindTopics {
		return nil
	}
	for _, t := range topics {
		if !broker.ValidTopic(t) {
			return nil
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(topics)))
}
