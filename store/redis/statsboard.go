package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The nodes' stats board: each node posts its stats as one string that
// expires (PX ttl) and names itself in a sorted set scored by that
// expiry, so that reading every node's stats is two calls and never a
// SCAN. Both keys share the {#stats} hash tag, which no topic can be (a
// topic holds no '#'), so they are in one slot on Cluster.
//
//	<prefix>{#stats}:nodes        sorted set: node -> expiry, Unix ms
//	<prefix>{#stats}:node:<node>  that node's stats, as it posted them
//
// A node's own clock scores its entry, and a reader's drops entries a
// minute past their score: clocks that differ by less never hide a node.
// The string's own TTL, kept by Redis, decides whether the stats are read.

// staleStats is how long past its score a node's name stays in the set:
// cleaning up only, since the expired string is what hides the node.
const staleStats = time.Minute

func (k keys) statsNodes() string           { return k.prefix + "{#stats}:nodes" }
func (k keys) statsNode(node string) string { return k.prefix + "{#stats}:node:" + node }

// PostStats replaces node's stats, for ttl, in one round trip.
func (e *Engine) PostStats(ctx context.Context, node string, stats []byte, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	now := time.Now()
	_, err := e.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, e.keys.statsNode(node), stats, ttl)
		p.ZAdd(ctx, e.keys.statsNodes(), goredis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: node})
		p.ZRemRangeByScore(ctx, e.keys.statsNodes(), "-inf", "("+strconv.FormatInt(now.Add(-staleStats).UnixMilli(), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("herald/redis: post stats: %w", err)
	}
	return nil
}

// ReadStats returns the stats of the nodes that posted and whose stats
// have not expired, at most max of them, in no particular order.
func (e *Engine) ReadStats(ctx context.Context, max int) ([][]byte, error) {
	if max <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	since := strconv.FormatInt(time.Now().Add(-staleStats).UnixMilli(), 10)
	nodes, err := e.rdb.ZRangeByScore(ctx, e.keys.statsNodes(),
		&goredis.ZRangeBy{Min: since, Max: "+inf", Count: int64(max)}).Result()
	if err != nil {
		return nil, fmt.Errorf("herald/redis: read stats: %w", err)
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	keys := make([]string, len(nodes))
	for i, node := range nodes {
		keys[i] = e.keys.statsNode(node)
	}
	values, err := e.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("herald/redis: read stats: %w", err)
	}
	out := make([][]byte, 0, len(values))
	for _, v := range values {
		if s, ok := v.(string); ok { // nil: expired
			out = append(out, []byte(s))
		}
	}
	return out, nil
}

// RemoveStats forgets node's stats: it is stopping.
func (e *Engine) RemoveStats(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	_, err := e.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, e.keys.statsNode(node))
		p.ZRem(ctx, e.keys.statsNodes(), node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("herald/redis: remove stats: %w", err)
	}
	return nil
}
