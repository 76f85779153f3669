package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

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

// miss records that the legs through the master at addr cannot be
// counted on.
func (p *probed) miss(addr string) {
	if p.away == nil {
		p.away = make(away)
	}
	p.away[addr] = true
}

// probe publishes tokens on every probe channel of the node, through
// every master it depends on, and waits for the receive loops to get
// them back within the timeout (see probeLegs). The supervisor calls it
// once it subscribed everything again, and only it: it takes psBroken.
func (e *Engine) probe(ctx context.Context) (probed, error) {
	e.pruneShards() // a shard closed now owes no copy
	legs, broken, err := e.probeLegs(ctx)
	if err != nil {
		return probed{}, fmt.Errorf("probe: %w", err)
	}
	return e.runProbe(ctx, legs, broken, e.psBroken)
}

// probeFor probes the connections the topics of m depend on, but through
// the masters of r.away, which a check leaves (see legsFor).
func (e *Engine) probeFor(ctx context.Context, m topicMasters, r round) (probed, error) {
	legs, broken := e.legsFor(m, r)
	return e.runProbe(ctx, legs, broken, nil)
}

// probeThrough probes the connections through the master at addr alone
// (see probeTarget), for the periodic probe of that master.
func (e *Engine) probeThrough(ctx context.Context, addr string, t probeTarget, classic string) (probed, error) {
	legs, broken := e.shardLegs(func(a string) bool { return a == addr })
	if t.via != nil {
		legs = append(legs, e.classicLeg(t.via, classic, addr, t.oneOfMany))
	}
	return e.runProbe(ctx, legs, broken, nil)
}

// runProbe sends legs, in parallel, and waits for each one's copy, each
// on its own, within the timeout: a master that does not answer holds up
// no other's. Its error says that the classic connection failed (a
// classic leg that is not one of many could not be sent, or one whose
// copy did not come back), or that connBroken (nil: never) said it broke,
// or that ctx ended. On Cluster a shard's leg that cannot be sent (its
// master does not answer) costs only that shard's topics: they are in the
// result's away. A shard leg sent whose copy does not come back means the
// shard's connection no longer gets what its master publishes (it went
// silent, or the slot moved): the shard is marked broken, to be replaced
// alone. The shards of broken get no leg: their copy would not come. A
// probe whose classic legs came back, one at least, notes when it was
// sent (noteSure).
func (e *Engine) runProbe(ctx context.Context, legs []*probeLeg, broken []string, connBroken <-chan struct{}) (probed, error) {
	var res probed
	for _, addr := range broken {
		res.miss(addr)
		res.broke = true
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	sent := time.Now()
	probe := e.probeID + "." + strconv.FormatUint(e.probeN.Add(1), 10) + "."
	sends := e.deadConnSends()
	var wg sync.WaitGroup
	for i, leg := range legs {
		wg.Go(func() { e.runLeg(pctx, leg, probe+strconv.Itoa(i)+".", sends) })
	}
	all := make(chan struct{})
	go func() { // ends with the legs, which end with pctx at the latest
		wg.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-connBroken: // the classic copies are not coming
		cancel()
		<-all
		return res, fmt.Errorf("probe: %w", errConnBroken)
	}
	if ctx.Err() != nil { // not the legs' deadline: whoever probes gave up
		return res, fmt.Errorf("probe: %w", ctx.Err())
	}
	classicBack := false
	for _, leg := range legs {
		if err := e.tookLeg(&res, leg); err != nil {
			return res, err
		}
		classicBack = classicBack || leg.back && leg.shard == nil
	}
	if classicBack {
		e.noteSure(sent)
	}
	return res, nil
}

// tookLeg adds what leg found to res, or returns the error of a classic
// leg that failed.
func (e *Engine) tookLeg(res *probed, leg *probeLeg) error {
	switch {
	case leg.back:
	case leg.err != nil && leg.shard == nil && !leg.oneOfMany:
		return fmt.Errorf("probe: publish: %w", leg.err)
	case leg.err != nil:
		e.log.Debug("a master did not take the probe; its topics wait", zap.String("master", leg.addr), zap.Error(leg.err))
		res.miss(leg.addr)
		if res.unanswered == nil {
			res.unanswered = make(away)
		}
		res.unanswered[leg.addr] = true
	case leg.broken: // its copy is not coming
		res.miss(leg.addr)
		res.broke = true
	case leg.closed: // closed meanwhile, its topics gone or waiting to be homed again
		res.miss(leg.addr)
	case leg.shard == nil:
		return fmt.Errorf("probe: no reply: %w", context.DeadlineExceeded)
	default:
		e.log.Info("a shard connection did not pass on its probe; replacing it", zap.String("master", leg.addr))
		e.broke(leg.shard)
		res.miss(leg.addr)
		res.broke = true
	}
	return nil
}

// runLeg sends leg, again under a new token each time while it fails on
// a dead pooled connection (see resend), and waits for a copy of one of
// its sends to come back, its shard to break or close, or ctx to end. Its
// tokens start with prefix.
func (e *Engine) runLeg(ctx context.Context, leg *probeLeg, prefix string, sends int) {
	back := make(chan struct{})
	var tokens []string
	defer func() { e.probes.forget(tokens) }()
	leg.err = e.resend(ctx, sends, "a probe", func() error {
		token := prefix + strconv.Itoa(len(tokens)+1)
		tokens = append(tokens, token)
		e.probes.expect(token, back) // before the send: the copy may come before the reply
		return leg.send(ctx, token)
	})
	if leg.err != nil {
		return
	}
	var failed, done <-chan struct{} // nil for a classic leg: never
	if leg.shard != nil {
		failed, done = leg.shard.failed, leg.shard.done
	}
	select {
	case <-back:
		leg.back = true
	case <-failed:
		leg.broken = true
	case <-done:
		leg.closed = true
	case <-ctx.Done():
	}
}

// probeWaits hands the probe copies the receive loops get back to the
// legs that wait for them, by token. A copy nobody waits for (its leg
// gave up, or another node's) is dropped.
type probeWaits struct {
	mu      sync.Mutex
	waiting map[string]chan struct{} // token → its leg's, closed once one of the leg's copies is back
}

// expect has back closed when token's copy comes back.
func (w *probeWaits) expect(token string, back chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = make(map[string]chan struct{})
	}
	w.waiting[token] = back
}

// arrived takes the copy of token, which a receive loop got back.
func (w *probeWaits) arrived(token string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	back, ok := w.waiting[token]
	if !ok {
		return
	}
	delete(w.waiting, token)
	select {
	case <-back: // a copy of an earlier send of the leg closed it
	default:
		close(back)
	}
}

// forget drops the waits for tokens, whose leg is done.
func (w *probeWaits) forget(tokens []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range tokens {
		delete(w.waiting, t)
	}
}
