package redis

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// receive reads ps until stop is called and ps closed, delivering messages
// and passing probe tokens to probe. sh is the shard whose connection ps is
// (nil: the classic connection), so that a break is reported as its own.
func (e *Engine) receive(ctx context.Context, ps *goredis.PubSub, stop *loopControl, done chan struct{}, sh *shard) {
	defer e.wg.Done()
	defer close(done)
	wait := backoff{min: minBackoff, max: e.cfg.BackoffMax}
	for {
		v, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || stop.called() {
				return
			}
			var reply goredis.Error
			switch {
			case errors.As(err, &reply) && sh != nil && e.refusedOnShard(sh, err):
				continue // the connection is fine, and the subscribes refused go to the slot's master (see refusedOnShard)
			case errors.As(err, &reply) && sh != nil:
				// A shard's master refused a channel: it is not the slot's
				// master (MOVED), or the channel is not ours to have.
				e.log.Info("redis refused a sharded subscribe; homing the shard's topics again", zap.Error(err))
				e.broke(sh)
			case errors.As(err, &reply):
				// Redis refused a command (an ACL, say); the connection is fine.
				e.log.Warn("redis refused a pub/sub command", zap.Error(err))
			default:
				e.log.Debug("pub/sub receive failed", zap.Error(err))
				e.broke(sh)
			}
			// Until the supervisor replaces ps, the next Receive redials it;
			// back off so that a Redis that is down is not dialled in a tight
			// loop. Whoever stops the loop waits for its end: the stop ends
			// the wait too. So does a subscribe that reached Redis through
			// ps (wake): its reply, and the messages after it, wait for this
			// loop.
			select {
			case <-ctx.Done():
				return
			case <-stop.ch:
				return
			case <-stop.woken:
			case <-e.pause(wait.next(), stop):
			}
			continue
		}
		wait.reset()
		if sub, ok := v.(*goredis.Subscription); ok {
			e.acks.confirm(ps, sub.Kind, sub.Channel)
			if sub.Kind == "sunsubscribe" && sh != nil && e.shards.movedAway(sh, sub.Channel) {
				// Redis dropped a channel we still want: its slot moved.
				e.log.Info("redis moved a sharded channel away", zap.String("channel", sub.Channel))
				e.broke(sh)
			}
			continue
		}
		msg, ok := v.(*goredis.Message)
		switch {
		case !ok:
		case e.keys.isProbe(e.cfg.NodeID, msg.Channel):
			e.probes.arrived(msg.Payload)
		case e.keys.isControl(msg.Channel):
			e.dispatchControl(msg.Payload)
		default:
			e.dispatch(msg)
		}
	}
}

// broke tells the supervisor that sh's connection (nil: the classic one)
// failed.
func (e *Engine) broke(sh *shard) {
	e.linkBroke()
	if sh == nil {
		// Owed before the next Receive: go-redis redials and subscribes
		// again by itself, and a message on the new connection must find
		// the break already owed (untracked.go).
		e.oweUntracked()
		e.oweControls()
		e.signalBroken()
		return
	}
	e.shards.mu.Lock()
	if !sh.broken {
		sh.broken = true
		close(sh.failed)
	}
	e.shards.mu.Unlock()
	select {
	case e.shardsBroken <- struct{}{}:
	default: // the supervisor has been told already
	}
}

// signalBroken tells the supervisor that a pub/sub connection failed.
func (e *Engine) signalBroken() {
	select {
	case e.psBroken <- struct{}{}:
	default: // the supervisor has been told already
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

// loopControl is what others tell a receive loop. stop ends it: called
// before the loop's connection is closed, so that the loop takes the
// error the close causes for its end, and ending the loop's wait after a
// failed receive, so that whoever stops it and waits for it (the
// supervisor replacing the connection, a Subscribe closing a shard it
// could not use) is not held for that wait, up to BackoffMax.
//
// wake ends that wait without ending the loop, once a subscribe was
// written to the loop's connection. A new connection's loop receives
// before the supervisor subscribes it, and while Redis is away (during
// a failover) that receive fails and the loop waits; when the supervisor
// then subscribes the connection on the new master, the loop must read
// at once: the subscribe's confirmation and the probe come back through
// it, and every message published meanwhile waits in the socket. Without
// it, delivery stood still for up to BackoffMax after the connection was
// back, and a topic that got more than HistorySize messages meanwhile was
// reported a gap for messages history held when they reached the node.
type loopControl struct {
	once  sync.Once
	ch    chan struct{} // closed by stop
	woken chan struct{} // a token: the connection was subscribed since the loop's last failure
}

func newLoopControl() *loopControl {
	return &loopControl{ch: make(chan struct{}), woken: make(chan struct{}, 1)}
}

func (s *loopControl) stop() { s.once.Do(func() { close(s.ch) }) }

// wake ends the loop's wait after a failed receive, if it is in one; a
// token left for a loop not waiting ends its next wait at once, which
// costs one receive more.
func (s *loopControl) wake() {
	select {
	case s.woken <- struct{}{}:
	default: // a token is there already
	}
}

func (s *loopControl) called() bool {
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}

// pause is time.After, or Config.pause when a test set it; loop is the
// receive loop that waits.
func (e *Engine) pause(d time.Duration, loop *loopControl) <-chan time.Time {
	if e.cfg.pause != nil {
		return e.cfg.pause(d, loop)
	}
	return time.After(d)
}
