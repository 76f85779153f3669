package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// probe publishes a token on the node's probe channel and waits for the
// receive loop to get it back within the timeout, or to see its connection
// break. Only the supervisor probes: it alone takes psBroken.
func (e *Engine) probe(ctx context.Context) error {
	e.pruneShards()           // no probe is in flight: a shard closed now owes no copy
	if e.shards.anyBroken() { // its copy would not come: replace it first
		return fmt.Errorf("probe: %w", errShardBroken)
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	token, copies, err := e.publishProbe(pctx)
	if err != nil {
		return fmt.Errorf("probe: publish: %w", err)
	}
	for {
		select {
		case got := <-e.probeSeen:
			if got == token {
				if copies--; copies == 0 {
					return nil
				}
			}
		case <-e.psBroken: // the reply is not coming
			return fmt.Errorf("probe: %w", errConnBroken)
		case <-e.shardsBroken:
			if e.shards.anyBroken() { // a copy is not coming
				return fmt.Errorf("probe: %w", errShardBroken)
			}
		case <-pctx.Done():
			return fmt.Errorf("probe: no reply: %w", pctx.Err())
		}
	}
}

// sendProbe publishes token on the node's probe channel and returns how
// many copies of it will come back. On Cluster it is published through
// every master: each master passes what it publishes to the node over its
// own link of the cluster bus, in order, so once every master's copy is
// back, whatever any master published (classically, for patterns) before
// has arrived too. And it is SPUBLISHed on each shard's probe channel:
// once that copy is back, whatever the shard's master SPUBLISHed before
// has arrived through that shard's connection. A node that holds no
// pattern needs nothing of the classic connection but that it is alive,
// so it sends the classic probe once, not through every master: each
// classic PUBLISH crosses the cluster bus to every node.
func (e *Engine) sendProbe(ctx context.Context, token string) (int, error) {
	channel := e.keys.probe(e.cfg.NodeID)
	cc, ok := e.rdb.(*goredis.ClusterClient)
	if !ok {
		return 1, e.rdb.Publish(ctx, channel, token).Err()
	}
	shardCopies, err := e.sendShardProbes(ctx, token)
	if err != nil {
		return 0, err
	}
	if !e.patterns.holding.Load() {
		return shardCopies + 1, e.rdb.Publish(ctx, channel, token).Err()
	}
	var masters atomic.Int64
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		masters.Add(1)
		return m.Publish(ctx, channel, token).Err()
	})
	if err == nil && masters.Load() == 0 {
		err = errors.New("no master known")
	}
	return int(masters.Load()) + shardCopies, err
}

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
