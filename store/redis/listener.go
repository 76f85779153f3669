package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// minBackoff is the first wait before a reconnect attempt.
const minBackoff = 50 * time.Millisecond

// supervise owns the pub/sub connection: it connects, probes, checks
// delivered positions now and then, and replaces the connection when a probe
// fails, backing off while Redis is away. It returns when ctx ends.
func (e *Engine) supervise(ctx context.Context) {
	defer e.wg.Done()
	wait := backoff{min: minBackoff, max: e.cfg.BackoffMax}
	for {
		done, err := e.connect(ctx)
		if err == nil {
			wait.reset()
			e.checkAll(ctx) // what was published while we were away
			err = e.watch(ctx)
		}
		e.disconnect(done)
		if ctx.Err() != nil {
			return
		}
		d := wait.next()
		e.log.Warn("redis pub/sub connection lost; reconnecting", zap.Error(err), zap.Duration("in", d))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// connect opens a pub/sub connection, subscribes everything subscribed now
// and starts its receive loop, which closes done when it ends. It returns
// once a probe went through, so every subscription is in place.
func (e *Engine) connect(ctx context.Context) (done chan struct{}, err error) {
	e.psMu.Lock()
	ps := e.rdb.Subscribe(ctx)
	e.ps = ps
	done = make(chan struct{})
	e.wg.Add(1)
	go e.receive(ctx, ps, done)
	err = e.subscribeAllLocked(ctx, ps)
	e.psMu.Unlock()
	if err == nil {
		err = e.probe(ctx)
	}
	return done, err
}

// subscribeAllLocked subscribes ps to every topic and pattern of this node,
// and last to the probe channel.
func (e *Engine) subscribeAllLocked(ctx context.Context, ps *goredis.PubSub) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	exact, patterns := e.subs.snapshot()
	channels := make([]string, len(exact))
	for i, t := range exact {
		channels[i] = e.keys.channel(t)
	}
	globs := make(map[string]bool, len(patterns))
	for _, p := range patterns {
		globs[e.keys.glob(p)] = true
	}
	if len(channels) > 0 {
		if err := ps.Subscribe(ctx, channels...); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
	}
	for g := range globs {
		if err := ps.PSubscribe(ctx, g); err != nil {
			return fmt.Errorf("psubscribe: %w", err)
		}
	}
	if err := ps.Subscribe(ctx, e.keys.probe(e.cfg.NodeID)); err != nil {
		return fmt.Errorf("subscribe probe: %w", err)
	}
	return nil
}

// disconnect closes the current pub/sub connection and waits for its
// receive loop to end.
func (e *Engine) disconnect(done chan struct{}) {
	e.psMu.Lock()
	ps := e.ps
	e.ps = nil
	e.psMu.Unlock()
	if ps != nil {
		_ = ps.Close() // unblocks the receive loop
	}
	if done != nil {
		<-done
	}
}

// watch probes the connection and checks positions until a probe fails or
// ctx ends.
func (e *Engine) watch(ctx context.Context) error {
	probe := time.NewTicker(e.cfg.ProbeInterval)
	defer probe.Stop()
	check := time.NewTicker(e.cfg.CheckInterval)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-probe.C:
			if err := e.probe(ctx); err != nil {
				return err
			}
		case <-check.C:
			e.checkAll(ctx)
		}
	}
}

// probe publishes a token on the node's probe channel and waits for the
// receive loop to get it back within the timeout.
func (e *Engine) probe(ctx context.Context) error {
	token := strconv.FormatUint(e.probeN.Add(1), 10)
	pctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.Publish(pctx, e.keys.probe(e.cfg.NodeID), token).Err(); err != nil {
		return fmt.Errorf("probe: publish: %w", err)
	}
	for {
		select {
		case got := <-e.probeSeen:
			if got == token {
				return nil
			}
		case <-pctx.Done():
			return fmt.Errorf("probe: no reply: %w", pctx.Err())
		}
	}
}

// receive reads ps until it is closed, delivering messages and passing
// probe tokens to probe.
func (e *Engine) receive(ctx context.Context, ps *goredis.PubSub, done chan struct{}) {
	defer e.wg.Done()
	defer close(done)
	probe := e.keys.probe(e.cfg.NodeID)
	for {
		v, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, goredis.ErrClosed) || errors.Is(err, net.ErrClosed) {
				return
			}
			// A broken connection is redialled by the next Receive; pause so
			// a Redis that is down is not dialled in a tight loop. A closed ps
			// ends the loop at the latest after this pause.
			select {
			case <-ctx.Done():
				return
			case <-time.After(minBackoff):
			}
			continue
		}
		msg, ok := v.(*goredis.Message)
		switch {
		case !ok:
		case msg.Channel == probe:
			select {
			case e.probeSeen <- msg.Payload:
			default: // nobody waits for so many: drop
			}
		default:
			e.dispatch(ctx, msg)
		}
	}
}

// backoff gives exponentially growing waits, capped at max, with jitter so
// that nodes do not reconnect in step.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

// next returns a wait in [cur/2, cur], cur doubling each call.
func (b *backoff) next() time.Duration {
	b.cur = min(max(2*b.cur, b.min), b.max)
	return b.cur/2 + rand.N(b.cur/2+1)
}
