package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"go.uber.org/zap"
)

// A link lost without a word (a NAT or load balancer that restarted)
// leaves go-redis's pool holding connections that pass its health check,
// since no close reached them, and fail the first call sent on them; each
// call tries two (the client's own retry). The supervisor's calls (the
// probe, position and history reads, change log reads) are sent again
// while they fail on such a connection, as many times as the pool's idle
// connections could all be dead: without that, the probe would fail on
// them once the pub/sub connection was replaced for the same loss, and
// replace it again, and each check would leave its topics for the next
// round, as many times as the pool held pairs of them.

// minDeadConnSends is the least number of sends of one call: a connection
// in use at the loss comes back to the pool dead too.
const minDeadConnSends = 3

// deadConnSends is how many times a supervisor's call is sent at most
// while it fails on dead pooled connections: one more than the pool's
// idle connections take, two a send, and at least minDeadConnSends. The
// pool's size bounds it.
func (e *Engine) deadConnSends() int {
	return max(minDeadConnSends, int(e.rdb.PoolStats().IdleConns)/2+2)
}

// resend runs call, and again while it fails on a dead pooled connection,
// up to sends times in all, and returns its last error. what names the
// call in the log.
func (e *Engine) resend(ctx context.Context, sends int, what string, call func() error) error {
	for n := 1; ; n++ {
		err := call()
		if err == nil || n >= sends || !deadConn(err) || ctx.Err() != nil {
			return err
		}
		e.log.Debug(what+" went on a dead pooled connection; sending it again", zap.Error(err))
	}
}

// deadConn reports whether err is that of a call on a connection the
// peer had closed or reset. A dial that failed is not one, nor a new
// connection closed before Redis answered it: Redis, or the way to it,
// is away or refuses the node.
func deadConn(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || neverAnswered(err) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
