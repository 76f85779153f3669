package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// minBackoff is the first wait before a reconnect attempt.
const minBackoff = 50 * time.Millisecond

// supervise owns the pub/sub connection: it subscribes it to everything,
// probes it, checks delivered positions now and then, and replaces it when
// a probe fails or the connection breaks, backing off while Redis is away.
// It returns when ctx ends, after closing the connection.
func (e *Engine) supervise(ctx context.Context) {
	defer e.wg.Done()
	jobs := newJobs()
	defer jobs.wait() // after closeConn, which ends the probes' waits on the shards
	defer e.closeConn()
	wait := backoff{min: minBackoff, max: e.cfg.BackoffMax}
	healthy := true // so that the first failure of a run is logged loudly
	for {
		select {
		case <-e.psBroken: // of a connection replaced since, or of this one before it subscribed
		default:
		}
		select {
		case <-e.shardsBroken: // of shards replaced since
		default:
		}
		err := e.resubscribe(ctx)
		if err == nil || errors.Is(err, errShardBroken) { // watch replaces a broken shard alone
			// The classic connection is subscribed: what it missed is in
			// the stream. A read that fails is tried again by watch.
			if err := e.catchUpControls(ctx); err != nil {
				e.log.Warn("cannot read the controls a reconnect may have lost; trying again", zap.Error(err))
			}
			if !healthy {
				e.log.Info("redis pub/sub connection restored")
				e.pres.noteReconnect() // Redis answers again: it may have lost entries
			}
			healthy = true
			wait.reset()
			err = e.watch(ctx, jobs) // which first checks what was published while we were away

		}
		if ctx.Err() != nil {
			return
		}
		d := wait.next()
		if healthy {
			e.log.Warn("redis pub/sub connection lost; replacing it", zap.Error(err))
		} else {
			e.log.Debug("redis pub/sub connection still down", zap.Error(err), zap.Duration("retry_in", d))
		}
		healthy = false
		e.oweUntracked()
		e.oweControls()
		e.reloadOnTrouble() // on Cluster, the node it was on may be gone
		e.replaceConn(ctx)
		if !e.waitOut(ctx, d, err) {
			return
		}
	}
}

// openConnLocked starts a pub/sub connection and its receive loop. It dials
// lazily, on the first command or receive, but on Cluster: there go-redis
// would dial a random node for a receive, so the connection is opened by
// subscribing its probe channel, which pins it to the master of that
// channel's slot, where the probe's classic leg goes (probeLegs). Each
// connection that replaces one goes to another master than the last
// (classicProbeLocked): a master that does not answer costs every topic
// only until the connection is replaced, not until it answers again.
// psMu must be held.
func (e *Engine) openConnLocked(ctx context.Context) {
	if e.shards.on() {
		e.classicProbe = e.classicProbeLocked(ctx)
		e.ps = e.pubsub.Subscribe(ctx, e.classicProbe) // a failure is the receive loop's to see
	} else {
		e.classicProbe = e.keys.probe(e.cfg.NodeID)
		e.ps = e.pubsub.Subscribe(ctx)
	}
	e.controlOn = false
	e.psDone = make(chan struct{})
	e.psLoop = newLoopControl()
	e.wg.Add(1)
	go e.receive(ctx, e.ps, e.psLoop, e.psDone, nil)
}

// maxClassicTries bounds the probe channels classicProbeLocked tries for
// one on another master: with 3 masters, 16 tries all miss once in 40,000.
const maxClassicTries = 16

// classicProbeLocked returns the probe channel of a new classic connection
// on Cluster: the first one's, and then the next one whose slot the slot
// map puts on another master than the last one's, as the last master may
// be why the connection is replaced. psMu must be held.
func (e *Engine) classicProbeLocked(ctx context.Context) string {
	if e.classicProbe == "" {
		return e.keys.classicProbe(e.cfg.NodeID, e.classicN)
	}
	last := e.slotMasterOf(ctx, e.classicProbe)
	for range maxClassicTries {
		e.classicN++
		next := e.keys.classicProbe(e.cfg.NodeID, e.classicN)
		if addr := e.slotMasterOf(ctx, next); last == "" || addr != last {
			break
		}
	}
	return e.keys.classicProbe(e.cfg.NodeID, e.classicN)
}

// replaceConn swaps the pub/sub connection for a new one and waits for the
// old one's receive loop to end. There is always a connection to send
// Subscribe's commands to.
func (e *Engine) replaceConn(ctx context.Context) {
	e.stats.reconnects.Add(1)
	e.linkBroke()
	e.psMu.Lock()
	old, stop, done := e.ps, e.psLoop, e.psDone
	e.openConnLocked(ctx)
	shards := e.detachShards() // resubscribe opens them again, on the masters of the slot map then
	e.psMu.Unlock()
	stop.stop()
	_ = old.Close() // unblocks the old receive loop
	<-done
	closeShards(shards)
}

func (e *Engine) closeConn() {
	e.psMu.Lock()
	ps, stop, done := e.ps, e.psLoop, e.psDone
	shards := e.detachShards()
	e.psMu.Unlock()
	stop.stop()
	_ = ps.Close()
	<-done
	closeShards(shards)
}

// resubscribe subscribes the connection to everything subscribed now,
// and on Cluster homes the exact topics on their masters' shards (without
// psMu: a master out of reach holds up no Subscribe), and returns once a
// probe went through them.
func (e *Engine) resubscribe(ctx context.Context) error {
	if err := e.markControls(ctx); err != nil { // before the control channel's first subscribe
		return fmt.Errorf("control stream: %w", err)
	}
	e.psMu.Lock()
	err := e.subscribeAllLocked(ctx, e.ps)
	e.psMu.Unlock()
	if err != nil {
		return err
	}
	if e.shards.on() {
		e.homeShards(ctx, e.shards.waiting()) // a master out of reach costs its own topics only
	}
	res, err := e.probe(ctx)
	if err == nil && res.broke {
		err = errShardBroken
	}
	return err
}

// subscribeAllLocked subscribes ps to every topic and pattern of this node,
// and last to the probe channel, and waits for Redis to confirm that; on
// Cluster the topics go to the shards instead (see resubscribe). Only the
// supervisor calls it: it takes psBroken.
func (e *Engine) subscribeAllLocked(ctx context.Context, ps *goredis.PubSub) error {
	var exact []string
	if !e.shards.on() {
		exact = e.subs.topicsSubscribed()
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	channels := make([]string, len(exact), len(exact)+1)
	for i, t := range exact {
		channels[i] = e.keys.channel(t)
	}
	channels = append(channels, e.keys.control())
	if len(channels) > 0 {
		if err := ps.Subscribe(ctx, channels...); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		e.psLoop.wake() // ps is connected: its loop is to read now (see loopControl)
	}
	if globs := e.subs.globs.all(); len(globs) > 0 { // at most maxGlobs
		if err := ps.PSubscribe(ctx, globs...); err != nil {
			return fmt.Errorf("psubscribe: %w", err)
		}
	}
	// Redis runs one connection's commands in order: once the probe
	// channel's subscription is confirmed, all of the above are active, and
	// a probe published from now on comes back.
	if err := e.subscribeConfirmed(ctx, ps, "subscribe", e.classicProbe, e.psBroken); err != nil {
		return fmt.Errorf("subscribe probe: %w", err)
	}
	e.controlOn = true
	return nil
}
