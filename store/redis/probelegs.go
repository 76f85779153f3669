package redis

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// probeLeg is one publish of a probe, through one master: on a shard's
// probe channel, or on the node's classic one; and what became of it.
type probeLeg struct {
	send      func(ctx context.Context, token string) error
	addr      string // the master it goes through ("": not Cluster)
	shard     *shard // nil: classic
	oneOfMany bool   // a classic leg through each master: its failure is its master's alone

	err    error // of its last send: its master did not take it
	back   bool  // a copy of one of its sends came back
	broken bool  // its shard's connection broke meanwhile
	closed bool  // its shard was closed meanwhile (pruned, or replaced)
}

// classicLeg is a leg published on channel through c, the master at addr
// (on Cluster; with one Redis, the client), on connections that skip the
// run key's stamp (e.pubsub, or on Cluster the twin of c: see
// unstamped): a probe runs no script, and a Redis that refuses the stamp,
// full after a restart, still delivers, which a probe failing with the
// stamp would have the node take for a broken connection, or a master
// away, again and again.
func (e *Engine) classicLeg(c goredis.Cmdable, channel, addr string, oneOfMany bool) *probeLeg {
	return &probeLeg{addr: addr, oneOfMany: oneOfMany, send: func(ctx context.Context, token string) error {
		via, done := e.unstamped(c)
		defer done()
		return via.Publish(ctx, channel, token).Err()
	}}
}

// shardLegs returns the legs of a probe on the probe channels of the
// shards on the masters addrs takes, and the addresses of those whose
// connections broke, which get none. Once a shard's copy is back,
// whatever its master SPUBLISHed before has arrived through that shard's
// connection.
//
// A leg is SPUBLISHed through the master of its probe channel's slot by
// the slot map (probeVia), as publishes go, and not through the shard's
// own node: a shard whose node no longer holds the slot gets no copy,
// and is replaced. Sent to its own node, the probe was served there
// whatever that node had become: a replica serves an SPUBLISH of its
// master's slots to its own subscribers, so a shard on one passed its
// probe while its master's messages did not reach it (see onSlotMaster);
// and a master that stopped answering, whose replica took its slots
// over, never took the probe at all, so its topics waited, left out of
// every check, until it answered again, though their messages went to
// the new master meanwhile.
func (e *Engine) shardLegs(addrs func(string) bool) (legs []*probeLeg, broken []string) {
	for _, sh := range e.shards.all() {
		switch {
		case !addrs(sh.addr):
		case e.shards.isBroken(sh):
			broken = append(broken, sh.addr)
		default:
			legs = append(legs, &probeLeg{addr: sh.addr, shard: sh, send: func(ctx context.Context, token string) error {
				twin, done := e.stamps.twins.lend(e.probeVia(ctx, sh)) // the shard's own may be closed since, with the shard
				err := twin.SPublish(ctx, sh.probe, token).Err()
				done()
				if movedAway(err) { // a slot map behind the move: the Cluster client follows the redirect
					err = e.shards.cc.SPublish(ctx, sh.probe, token).Err()
				}
				return err
			}})
		}
	}
	return legs, broken
}

// probeVia returns the node client a probe of sh is SPUBLISHed through:
// the master of its probe channel's slot by the slot map, or sh's own
// node when the map names none.
func (e *Engine) probeVia(ctx context.Context, sh *shard) *goredis.Client {
	if m := e.masterOf(ctx, sh.probe); m != nil {
		return m
	}
	return sh.node
}

// probeLegs returns the legs of a probe through every master the node
// depends on, and the addresses of the shards whose connections broke,
// which get none. With one Redis the probe is one publish. On Cluster it
// is SPUBLISHed on each shard's probe channel, and it is published
// classically through every master while the node holds a pattern: each
// master passes what it publishes to the node over its own link of the
// cluster bus, in order, so once a master's copy is back, whatever it
// published before has arrived too. A node that holds no pattern needs
// nothing of the classic connection but that it is alive, so it publishes
// the classic probe once, through the master its classic connection is
// on (that of its probe channel's slot: see openConnLocked): each classic
// PUBLISH crosses the cluster bus to every node. It reads the slot map
// again for every master: only the supervisor calls it, as it
// subscribed everything again.
func (e *Engine) probeLegs(ctx context.Context) (legs []*probeLeg, broken []string, err error) {
	if !e.shards.on() {
		return []*probeLeg{e.classicLeg(e.pubsub, e.classicProbe, "", false)}, nil, nil
	}
	legs, broken = e.shardLegs(func(string) bool { return true })
	if !e.patterns.holding.Load() {
		m, err := e.shards.cc.MasterForKey(ctx, e.classicProbe)
		if err != nil {
			return nil, nil, err
		}
		return append(legs, e.classicLeg(m, e.classicProbe, m.Options().Addr, false)), broken, nil
	}
	masters, err := e.readMasters(ctx)
	for addr, m := range masters {
		legs = append(legs, e.classicLeg(m, e.classicProbe, addr, true))
	}
	if err == nil && len(masters) == 0 {
		err = errors.New("no master known")
	}
	return legs, broken, err
}

// legsFor returns the legs of a probe through what the topics of m
// depend on, but through the masters of r.away: a check leaves their
// topics, and their legs would only wait out the timeout. With one Redis
// it is the one publish. On Cluster it goes on the probe channels of the
// shards the topics are homed on, and, while the node holds a pattern,
// classically through the masters of their slots; holding none, the
// node has every topic on its master's shard.
func (e *Engine) legsFor(m topicMasters, r round) (legs []*probeLeg, broken []string) {
	if !e.shards.on() {
		return []*probeLeg{e.classicLeg(e.pubsub, r.classic, "", false)}, nil
	}
	homes := make(map[string]bool)
	for _, addr := range m.home {
		if addr != "" && !r.away[addr] {
			homes[addr] = true
		}
	}
	legs, broken = e.shardLegs(func(addr string) bool { return homes[addr] })
	if e.patterns.holding.Load() {
		for addr, c := range m.clients {
			if !r.away[addr] {
				legs = append(legs, e.classicLeg(c, r.classic, addr, true))
			}
		}
	}
	return legs, broken
}

// probeTarget is how the periodic probe of one master goes through it:
// on the probe channels of the node's shards there, and classically
// through via (nil: not), which is the master's client on Cluster.
type probeTarget struct {
	via       goredis.Cmdable
	oneOfMany bool // via is one of the masters the node holds a pattern on (see probeLegs)
}

// probeTargets returns the masters the periodic probe goes through, each
// on its own, and how: every master the node has a shard on; with one
// Redis, the one; on Cluster, classically, the masters as last read
// while the node holds a pattern (readMasters), and else the master the
// classic connection, whose probe channel is classic, is on. Only the
// supervisor calls it.
func (e *Engine) probeTargets(ctx context.Context, classic string) map[string]probeTarget {
	if !e.shards.on() {
		return map[string]probeTarget{"": {via: e.pubsub}}
	}
	out := make(map[string]probeTarget)
	for _, sh := range e.shards.all() {
		out[sh.addr] = probeTarget{}
	}
	if e.patterns.holding.Load() {
		for addr, m := range e.shards.mastersRead() {
			out[addr] = probeTarget{via: m, oneOfMany: true}
		}
		return out
	}
	if m, err := e.shards.cc.MasterForKey(ctx, classic); err == nil {
		out[m.Options().Addr] = probeTarget{via: m}
	}
	return out
}

// readMasters reads the slot map again and returns every master it
// names, by address, which it also keeps for probeTargets; when the read
// fails, the masters of the map go-redis has. go-redis reads the map from
// one node after another, in random order, until one answers: one that
// does not costs twice the timeout (go-redis sends CLUSTER SLOTS again
// once), which is why the periodic probe does not wait for this read
// (see watcher.probe). The read is given time for one such node and one
// that answers: cut short, it would fail every node after the one it
// waited for, and go-redis, finding none to answer, would forget the
// nodes it learnt of for the addresses of the URL. The masters' twins
// of addresses it names no master at are closed once unused (twins.go),
// and the reports' clients of any but the {webhooks} slot's master
// (webhook_conns.go).
func (e *Engine) readMasters(ctx context.Context) (map[string]*goredis.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*e.cfg.Timeout)
	defer cancel()
	var mu sync.Mutex
	masters := make(map[string]*goredis.Client)
	err := e.shards.cc.ForEachMaster(ctx, func(_ context.Context, m *goredis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[m.Options().Addr] = m
		return nil
	})
	if len(masters) > 0 {
		e.shards.noteMasters(masters)
		e.stamps.twins.keepOnly(masters)
		e.stamps.reporters.keepOnly(e.reportsMasters(ctx, masters))
	}
	return masters, err
}

// noteMasters keeps masters as the slot map's, as read last.
func (s *shards) noteMasters(masters map[string]*goredis.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.masters = maps.Clone(masters)
	s.mastersAt = time.Now()
}

// mastersDue reports whether the masters are to be read again for the
// twins' sake (see watcher.probe): no read named any for every
// (clusterReload but in tests).
func (s *shards) mastersDue(every time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.mastersAt) >= every
}

// mastersRead returns the masters as the slot map read last named them.
func (s *shards) mastersRead() map[string]*goredis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.masters)
}

// unstamped returns, for a node client of a Cluster master, its twin
// whose connections skip the stamp (twins.go), lent until the func it
// returns is called; else c.
func (e *Engine) unstamped(c goredis.Cmdable) (goredis.Cmdable, func()) {
	if node, ok := c.(*goredis.Client); ok && e.stamps != nil {
		return e.stamps.twins.lend(node)
	}
	return c, func() {}
}
