package redis

import (
	"context"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// Subscribe starts delivery of pattern's messages to this node. For a topic
// it first reads the topic's position, so delivery continues right after it;
// an unreachable Redis fails it with an unavailable error and nothing done.
func (e *Engine) Subscribe(ctx context.Context, pattern string) error {
	if !broker.ValidPattern(pattern) {
		return broker.Errorf(broker.CodeInvalidTopic, "%q is not a topic or pattern", pattern)
	}
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if e.subs.has(pattern) {
		return nil
	}
	if broker.IsPattern(pattern) {
		e.subs.addPattern(pattern)
		e.sendLocked(ctx, "psubscribe", e.keys.glob(pattern))
		return nil
	}
	pos, err := e.Position(ctx, pattern)
	if err != nil {
		return err
	}
	e.subs.addExact(pattern, pos)
	e.sendLocked(ctx, "subscribe", e.keys.channel(pattern))
	return nil
}

// Unsubscribe stops delivery of pattern's messages to this node. It always
// succeeds locally: messages of pattern are dropped from now on, and a Redis
// that missed the unsubscribe command forgets it with the connection.
func (e *Engine) Unsubscribe(ctx context.Context, pattern string) error {
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if !e.subs.has(pattern) {
		return nil
	}
	e.subs.remove(pattern)
	if !broker.IsPattern(pattern) {
		e.sendLocked(ctx, "unsubscribe", e.keys.channel(pattern))
		return nil
	}
	if glob := e.keys.glob(pattern); !e.subs.globUsed(e.keys, glob) {
		e.sendLocked(ctx, "punsubscribe", glob)
	}
	return nil
}

// sendLocked sends one (un)subscribe command on the current pub/sub
// connection, if there is one. A failure is only logged: the connection is
// then broken, the probe notices, and its replacement subscribes to
// everything subscribed at that time. psMu must be held.
func (e *Engine) sendLocked(ctx context.Context, cmd, channel string) {
	if e.ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	var err error
	switch cmd {
	case "subscribe":
		err = e.ps.Subscribe(ctx, channel)
	case "psubscribe":
		err = e.ps.PSubscribe(ctx, channel)
	case "unsubscribe":
		err = e.ps.Unsubscribe(ctx, channel)
	case "punsubscribe":
		err = e.ps.PUnsubscribe(ctx, channel)
	}
	if err != nil {
		e.log.Warn("pub/sub command failed", zap.String("cmd", cmd), zap.String("channel", channel), zap.Error(err))
	}
}
