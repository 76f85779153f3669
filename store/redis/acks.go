package redis

import (
	"context"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// acks lets a (p)subscribe wait for Redis's confirmation, which arrives on
// the receive loop. Only once Redis confirmed is a message published on any
// connection sure to reach this node.
type acks struct {
	mu      sync.Mutex
	waiting map[string][]chan struct{} // by kind + " " + channel
}

// expect registers a wait for the confirmation of kind ("subscribe",
// "psubscribe") for channel. Call it before sending the command.
func (a *acks) expect(kind, channel string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting == nil {
		a.waiting = make(map[string][]chan struct{})
	}
	c := make(chan struct{})
	k := kind + " " + channel
	a.waiting[k] = append(a.waiting[k], c)
	return c
}

// confirm releases every wait for kind and channel.
func (a *acks) confirm(kind, channel string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := kind + " " + channel
	for _, c := range a.waiting[k] {
		close(c)
	}
	delete(a.waiting, k)
}

// forget drops a wait that gave up, so that it does not pile up.
func (a *acks) forget(kind, channel string, c <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := kind + " " + channel
	cs := a.waiting[k]
	for i, w := range cs {
		if w == c {
			a.waiting[k] = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(a.waiting[k]) == 0 {
		delete(a.waiting, k)
	}
}

// subscribeConfirmed sends a (p)subscribe on ps and waits until Redis
// confirms it, ctx ends, or broken (nil: never) says the connection failed.
func (e *Engine) subscribeConfirmed(ctx context.Context, ps *goredis.PubSub, kind, channel string, broken <-chan struct{}) error {
	confirmed, err := e.sendSubscribe(ctx, ps, kind, channel)
	if err != nil {
		return err
	}
	return e.awaitConfirmed(ctx, kind, channel, confirmed, broken)
}

// sendSubscribe sends a (s,p)subscribe of channel on ps, and returns what
// Redis's confirmation closes, for awaitConfirmed.
func (e *Engine) sendSubscribe(ctx context.Context, ps *goredis.PubSub, kind, channel string) (<-chan struct{}, error) {
	confirmed := e.acks.expect(kind, channel)
	var err error
	switch kind {
	case "psubscribe":
		err = ps.PSubscribe(ctx, channel)
	case "ssubscribe":
		err = ps.SSubscribe(ctx, channel)
	default:
		err = ps.Subscribe(ctx, channel)
	}
	if err != nil {
		e.acks.forget(kind, channel, confirmed)
		return nil, err
	}
	return confirmed, nil
}

// awaitConfirmed waits until confirmed (sendSubscribe's) is closed, ctx
// ends, or broken (nil: never) says the connection failed.
func (e *Engine) awaitConfirmed(ctx context.Context, kind, channel string, confirmed, broken <-chan struct{}) error {
	var err error
	select {
	case <-confirmed:
		return nil
	case <-broken:
		err = errConnBroken
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.acks.forget(kind, channel, confirmed)
	return err
}
