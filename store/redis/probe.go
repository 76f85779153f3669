package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// probed is what a probe found on Cluster besides the classic
// connection being alive: the masters through which it could not be had
// (a send that failed, or a shard connection whose copy did not come
// back), whose topics are not known to have come through; and whether a
// shard connection broke meanwhile, for repairShards to replace.
type probed struct {
	away       away
	unanswered away // those of away whose master did not take the probe: checks skip them until it does
	broke      bool
}

// miss records that leg's copy cannot be counted on.
func (p *probed) miss(leg *probeLeg) {
	if p.away == nil {
		p.away = make(away)
	}
	p.away[leg.addr] = true
}

// probe publishes tokens on the node's probe channels and waits for the
// receive loops to get them back within the timeout. Its error says that
// the classic connection (the only one, but on Cluster) failed or broke.
// On Cluster a shard's leg that cannot be sent (its master does not
// answer) costs only that shard's topics: they are in the result's away.
// A shard leg sent whose copy does not come back means the shard's
// connection no longer gets what its master publishes (it went silent, or
// the slot moved): the shard is marked broken, to be replaced alone. Only
// the supervisor probes: it alone takes psBroken.
//
// The legs through the masters of skip are not sent (on Cluster): those
// masters are in the result's away, as a check that found them away
// already leaves their topics and would only wait for them again.
func (e *Engine) probe(ctx context.Context, skip away) (probed, error) {
	e.pruneShards() // no probe is in flight: a shard closed now owes no copy
	var res probed
	legs, broken, err := e.probeLegs(ctx)
	if err != nil {
		return res, fmt.Errorf("probe: %w", err)
	}
	legs = slices.DeleteFunc(legs, func(leg *probeLeg) bool {
		if skip[leg.addr] && (leg.shard != nil || leg.oneOfMany) {
			res.miss(leg)
			return true
		}
		return false
	})
	for _, addr := range broken { // its copy would not come: replace it first
		res.miss(&probeLeg{addr: addr})
		res.broke = true
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	sent := time.Now()
	e.sendProbe(pctx, legs)
	waiting := make(map[string]*probeLeg, len(legs))
	for _, leg := range legs {
		switch {
		case leg.err == nil:
			waiting[leg.token] = leg
		case leg.shard == nil && !leg.oneOfMany:
			return res, fmt.Errorf("probe: publish: %w", leg.err)
		default:
			e.log.Debug("a master did not take the probe; its topics wait", zap.String("master", leg.addr), zap.Error(leg.err))
			res.miss(leg)
			if res.unanswered == nil {
				res.unanswered = make(away)
			}
			res.unanswered[leg.addr] = true
		}
	}
	for len(waiting) > 0 {
		select {
		case got := <-e.probeSeen:
			delete(waiting, got)
		case <-e.psBroken: // the reply is not coming
			return res, fmt.Errorf("probe: %w", errConnBroken)
		case <-e.shardsBroken:
			res.broke = res.broke || e.shards.anyBroken()
			for token, leg := range waiting {
				if leg.shard != nil && e.shards.isBroken(leg.shard) { // its copy is not coming
					res.miss(leg)
					res.broke = true
					delete(waiting, token)
				}
			}
		case <-pctx.Done():
			drainProbes(e.probeSeen, waiting) // copies back while the last sends waited
			for _, leg := range waiting {
				if leg.shard == nil {
					return res, fmt.Errorf("probe: no reply: %w", pctx.Err())
				}
			}
			for _, leg := range waiting {
				e.log.Info("a shard connection did not pass on its probe; replacing it", zap.String("master", leg.addr))
				e.broke(leg.shard)
				res.miss(leg)
				res.broke = true
			}
			e.noteSure(sent) // the classic leg came back
			return res, nil
		}
	}
	e.noteSure(sent)
	return res, nil
}

// drainProbes takes from seen the copies already back, without waiting.
func drainProbes(seen <-chan string, waiting map[string]*probeLeg) {
	for {
		select {
		case got := <-seen:
			delete(waiting, got)
		default:
			return
		}
	}
}

// probeLeg is one publish of a probe, through one master: on a shard's
// probe channel, or on the node's classic one.
type probeLeg struct {
	send      func(ctx context.Context, token string) error
	addr      string // the master it goes through ("": not Cluster)
	shard     *shard // nil: classic
	oneOfMany bool   // a classic leg through each master: its failure is its master's alone
	token     string // of its last send
	err       error  // of its last send
}

// probeLegs returns the legs of a probe, and the addresses of the shards
// whose connections broke, which get none. With one Redis the probe is
// one publish. On Cluster it is SPUBLISHed on each shard's probe channel:
// once that copy is back, whatever the shard's master SPUBLISHed before
// has arrived through that shard's connection. And it is published
// classically through every master while the node holds a pattern: each
// master passes what it publishes to the node over its own link of the
// cluster bus, in order, so once a master's copy is back, whatever it
// published before has arrived too. A node that holds no pattern needs
// nothing of the classic connection but that it is alive, so it publishes
// the classic probe once, through the master its classic connection is
// on (that of its probe channel's slot: see openConnLocked): each classic
// PUBLISH crosses the cluster bus to every node.
func (e *Engine) probeLegs(ctx context.Context) (legs []*probeLeg, broken []string, err error) {
	channel := e.classicProbe
	publish := func(c goredis.UniversalClient) func(context.Context, string) error {
		return func(ctx context.Context, token string) error { return c.Publish(ctx, channel, token).Err() }
	}
	if !e.shards.on() {
		return []*probeLeg{{send: publish(e.rdb)}}, nil, nil
	}
	for _, sh := range e.shards.all() {
		if e.shards.isBroken(sh) {
			broken = append(broken, sh.addr)
			continue
		}
		legs = append(legs, &probeLeg{addr: sh.addr, shard: sh, send: func(ctx context.Context, token string) error {
			return e.shards.cc.SPublish(ctx, sh.probe, token).Err()
		}})
	}
	if !e.patterns.holding.Load() {
		m, err := e.shards.cc.MasterForKey(ctx, channel)
		if err != nil {
			return nil, nil, err
		}
		return append(legs, &probeLeg{addr: m.Options().Addr, send: publish(m)}), broken, nil
	}
	var mu sync.Mutex
	err = e.shards.cc.ForEachMaster(ctx, func(_ context.Context, m *goredis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		legs = append(legs, &probeLeg{addr: m.Options().Addr, oneOfMany: true, send: publish(m)})
		return nil
	})
	if err == nil && !slices.ContainsFunc(legs, func(l *probeLeg) bool { return l.oneOfMany }) {
		err = errors.New("no master known")
	}
	return legs, broken, err
}

// sendProbe sends every leg, the legs in parallel (a master that does not
// answer holds up no other), each sent again, under a new token each
// time, while it fails on a dead pooled connection (see resend). A leg
// keeps the token of its last send; copies of an earlier send, which may
// come too, bear another.
func (e *Engine) sendProbe(ctx context.Context, legs []*probeLeg) {
	probe := e.probeID + "." + strconv.FormatUint(e.probeN.Add(1), 10) + "."
	sends := e.deadConnSends()
	var wg sync.WaitGroup
	for i, leg := range legs {
		wg.Go(func() {
			n := 0
			leg.err = e.resend(ctx, sends, "a probe", func() error {
				n++
				leg.token = probe + strconv.Itoa(i) + "." + strconv.Itoa(n)
				return leg.send(ctx, leg.token)
			})
		})
	}
	wg.Wait()
}
