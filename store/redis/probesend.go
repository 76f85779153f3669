package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"go.uber.org/zap"
)

// maxProbeSends bounds the sends of one probe. A link lost without a
// word (a NAT or load balancer that restarted) leaves go-redis's pool
// holding connections that pass its health check, since no close reached
// them, and fail the first call sent on them; each send tries two (the
// client's own retry). Without sending again, the probe would fail on
// them once the pub/sub connection was replaced for the same loss, and
// replace it again, as many times as the pool held pairs of them.
const maxProbeSends = 3

// publishProbe sends a probe, under a new token each time, until one
// send goes through, a send fails otherwise than on a dead connection,
// or maxProbeSends were made. It returns the token of the last send and
// how many copies of it will come back (see sendProbe); copies of an
// earlier send, which may come too, bear another token.
func (e *Engine) publishProbe(ctx context.Context) (token string, copies int, err error) {
	for sends := 1; ; sends++ {
		token = e.probeID + "." + strconv.FormatUint(e.probeN.Add(1), 10)
		copies, err = e.sendProbe(ctx, token)
		if err == nil || sends == maxProbeSends || !deadConn(err) || ctx.Err() != nil {
			return token, copies, err
		}
		e.log.Debug("a probe went on a dead pooled connection; sending it again", zap.Error(err))
	}
}

// deadConn reports whether err is that of a call on a connection the
// peer had closed or reset. A dial that failed is not one: Redis, or the
// way to it, is away.
func deadConn(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
