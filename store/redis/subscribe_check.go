package redis

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

var _ broker.SubscribeChecker = (*Engine)(nil)

// CheckSubscribe implements broker.SubscribeChecker for a pattern (an
// exact topic's check reads its position): it returns what Subscribe's
// first step would fail with, the node's pub/sub connection subscribed
// to its control channel (controlLocked), sending no PSUBSCRIBE. Once
// the node sees Redis out of reach, that connection is replaced by one
// subscribed to nothing until Redis answers again, so that a HEAD of
// /sse naming patterns alone is refused unavailable then, as its GET
// is. A control channel this subscribes stays subscribed: it is the
// node's own, which the pattern's subscribe would have made too.
func (e *Engine) CheckSubscribe(ctx context.Context, pattern string) error {
	if err := broker.CheckPattern(pattern); err != nil {
		return err
	}
	e.psMu.Lock()
	defer e.psMu.Unlock()
	return e.controlLocked(ctx)
}
