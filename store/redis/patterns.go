package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// On Cluster a message of a topic goes to its sharded channel, which
// crosses only the shard of its slot. Pattern subscriptions have no
// sharded form, so they still need the classic PUBLISH, which Redis
// Cluster passes to every node over the cluster bus. The publish script
// sends it only while some node holds a pattern, as a lease in Redis says:
//
//   - A node holding a pattern keeps the key <prefix>patterns alive
//     (leaseScript every patternViewAge/2, for patternLease). Its value, a
//     random name given when the key is created, changes only when the
//     key is created again.
//   - Every node reads the key every patternViewAge/2 and publishes
//     classically until a read sent less than patternViewAge ago found no
//     key: a node that cannot read it publishes classically, as before.
//   - A node's first pattern subscribe makes sure of the lease, and
//     returns only once no node can still act on a read that found no
//     key: patternViewAge after the lease was created, or at once when
//     this node's own reads have seen it, unchanged, for that long.
//
// So the promise of Subscribe holds for patterns: what is published after
// it returns reaches the node. It costs a node's first pattern up to
// patternViewAge of waiting, every node a GET every patternViewAge/2, and
// publishes go classically for up to patternLease after the last pattern
// of the cluster went. A lease that lapsed while its node held patterns
// (the node could not renew it for patternLease) is treated as a broken
// connection: the node checks every topic it delivers.
const (
	patternViewAge = time.Second
	patternLease   = 30 * time.Second
)

// leaseScript extends the pattern lease, or creates it with the name
// ARGV[1]. KEYS: the lease. ARGV: a new name, the lease (ms). Returns
// {name, 1 if created now}.
var leaseScript = goredis.NewScript(`
if redis.call('PEXPIRE', KEYS[1], ARGV[2]) == 1 then
  return {redis.call('GET', KEYS[1]), 0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], 1}
`)

// patternGate is this node's view of the pattern lease.
type patternGate struct {
	base        time.Time    // the origin of closedUntil, read on the monotonic clock
	closedUntil atomic.Int64 // ns after base: before it, publishes skip the classic channel
	holding     atomic.Bool  // this node holds a pattern, so it keeps the lease alive

	mu        sync.Mutex
	seen      string    // the lease's name as this node last read it ("": none)
	seenSince time.Time // when a read first found seen, of the reads since
}

func newPatternGate() patternGate { return patternGate{base: time.Now()} }

// open reports whether a publish must go on the classic channel too.
func (g *patternGate) open() bool {
	return time.Since(g.base).Nanoseconds() >= g.closedUntil.Load()
}

// note records a read of the lease sent at sent (after base) that found
// name ("": no lease).
func (g *patternGate) note(name string, sent time.Duration) {
	if name == "" {
		g.closedUntil.Store((sent + patternViewAge).Nanoseconds())
	} else {
		g.closedUntil.Store(0)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if name != g.seen {
		g.seen, g.seenSince = name, time.Now()
	}
}

// wait returns how long a subscribe that found the lease named name
// (created by it, or not) must wait until every node publishes classically.
func (g *patternGate) wait(name string, created bool) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if created || g.seen != name {
		return patternViewAge
	}
	return max(0, patternViewAge-time.Since(g.seenSince))
}

// watchPatterns reads, or when this node holds a pattern renews, the
// pattern lease every patternViewAge/2 until ctx ends. It runs on Cluster
// only.
func (e *Engine) watchPatterns(ctx context.Context) {
	defer e.wg.Done()
	tick := time.NewTicker(patternViewAge / 2)
	defer tick.Stop()
	var checkAt time.Time // when a lapsed lease's check is due; zero: none
	for {
		holding := e.patterns.holding.Load()
		_, created, err := e.readLease(ctx, holding)
		if err == nil && created && holding {
			// Other nodes may still act on a "no lease" read for up to
			// patternViewAge: check every topic once they cannot, or a
			// message they sent meanwhile would be missed by the check.
			e.log.Warn("the pattern lease had lapsed; checking every topic")
			checkAt = time.Now().Add(patternViewAge)
		}
		if !checkAt.IsZero() && !time.Now().Before(checkAt) {
			checkAt = time.Time{}
			e.signalBroken()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readLease reads the pattern lease, renewing it (creating it if need be)
// when renew is set, and notes what it found.
func (e *Engine) readLease(ctx context.Context, renew bool) (name string, created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	sent := time.Since(e.patterns.base)
	key := e.keys.prefix + "patterns"
	if renew {
		var v []any
		v, err = leaseScript.Run(ctx, e.rdb, []string{key}, newEpoch(), patternLease.Milliseconds()).Slice()
		if err == nil && len(v) == 2 {
			name, _ = v[0].(string)
			n, _ := v[1].(int64)
			created = n == 1
		}
	} else {
		name, err = e.rdb.Get(ctx, key).Result()
		if errors.Is(err, goredis.Nil) {
			name, err = "", nil
		}
	}
	if err != nil {
		e.log.Debug("cannot read the pattern lease", zap.Error(err))
		return "", false, err
	}
	e.patterns.note(name, sent)
	return name, created, nil
}

// holdPatterns makes sure of the lease for this node's first pattern and
// returns how long its subscribe must wait before it returns. psMu must be
// held.
func (e *Engine) holdPatterns(ctx context.Context) (time.Duration, error) {
	if !e.shards.on() || e.patterns.holding.Load() {
		return 0, nil
	}
	name, created, err := e.readLease(ctx, true)
	if err != nil {
		return 0, err
	}
	e.patterns.holding.Store(true)
	return e.patterns.wait(name, created), nil
}

// patternsHeld updates whether this node holds a pattern, after one went.
// psMu must be held.
func (e *Engine) patternsHeld() {
	e.patterns.holding.Store(len(e.subs.globs.refs) > 0)
}
