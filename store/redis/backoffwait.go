package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// answerPoll is how often the supervisor, waiting to replace the pub/sub
// connection after Redis could not be reached, asks whether Redis answers
// again (waitOut). The PING goes through the pooled client, whose dials
// go-redis bounds: after as many failed dials as its pool has places, it
// fails a call at once and dials once a second in the background, so a
// dead Redis is not dialled five times a second for long.
const answerPoll = 200 * time.Millisecond

// waitOut waits out the backoff d before the supervisor's next try, or
// less: when the last try failed for want of Redis (cause is no reply of
// Redis: no connection could be had, or it broke, or Redis did not answer
// in time), the wait ends once Redis answers a PING, as a restarted
// server or, with Sentinel, a promoted replica the sentinels name does,
// so the node does not wait out up to BackoffMax more. A Redis that
// answered the last try with an error gets the whole wait. Not on
// Cluster, where some node answers a PING whatever the classic
// connection's master does, and where that connection goes to another
// master at the next try anyway. It returns false if ctx ended.
func (e *Engine) waitOut(ctx context.Context, d time.Duration, cause error) bool {
	end := e.backoffEnd(d)
	var polls <-chan time.Time
	var reply goredis.Error
	if !e.shards.on() && !errors.As(cause, &reply) {
		poll := time.NewTicker(answerPoll)
		defer poll.Stop()
		polls = poll.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-end:
			return true
		case <-polls:
			if e.answers(ctx) {
				return true
			}
		}
	}
}

// answers reports whether Redis answers a PING within the timeout.
func (e *Engine) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	return e.rdb.Ping(ctx).Err() == nil
}

// backoffEnd is time.After, or Config.backoffEnd when a test set it.
func (e *Engine) backoffEnd(d time.Duration) <-chan time.Time {
	if e.cfg.backoffEnd != nil {
		return e.cfg.backoffEnd(d)
	}
	return time.After(d)
}
