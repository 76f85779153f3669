package redis

import (
	"context"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// acks lets a (p)subscribe wait for Redis's confirmation, which arrives on
// the receive loop. Only once Redis confirmed is a message published on any
// connection sure to reach this node.
//
// A wait is released only by a confirmation that came through the
// connection its command was sent on. Two connections can subscribe the
// same channel at once: a shard replaced while its master was stopped is
// redialled by go-redis, which subscribes its channels again, the shard's
// probe channel among them, beside the new shard on that master. The old
// one's confirmation, once the master answered, released the new shard's
// wait for its probe channel, sent after its topics' SSUBSCRIBEs, which
// Redis had not run yet: the topics were counted homed, their check read
// positions before a message that Redis then published before those
// SSUBSCRIBEs, and the message was never delivered, with no gap.
type acks struct {
	mu      sync.Mutex
	waiting map[ackKey][]*ackWait
	expects uint64 // waits registered so far: the next one's seq
}

// ackWait is one wait for a confirmation: done is closed once Redis
// confirmed the command, or refused it (refused set first: see
// takeFirst). seq orders the waits as they were registered.
type ackWait struct {
	done    chan struct{}
	refused error
	seq     uint64
}

// ackKey names what a confirmation is awaited for: kind ("subscribe",
// "psubscribe", "ssubscribe") of channel, on conn.
type ackKey struct {
	conn          *goredis.PubSub
	kind, channel string
}

// expect registers a wait for the confirmation of kind for channel on
// conn. Call it before sending the command.
func (a *acks) expect(conn *goredis.PubSub, kind, channel string) *ackWait {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting == nil {
		a.waiting = make(map[ackKey][]*ackWait)
	}
	w := &ackWait{done: make(chan struct{}), seq: a.expects}
	a.expects++
	k := ackKey{conn, kind, channel}
	a.waiting[k] = append(a.waiting[k], w)
	return w
}

// confirm releases every wait for kind and channel on conn, whose receive
// loop got the confirmation.
func (a *acks) confirm(conn *goredis.PubSub, kind, channel string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := ackKey{conn, kind, channel}
	for _, w := range a.waiting[k] {
		close(w.done)
	}
	delete(a.waiting, k)
}

// takeFirst removes the first registered wait for kind on conn of a
// channel that match matches, and returns it with its channel (false:
// there is none), for the caller to end (refuse). Redis answers a
// refused command with an error that names no channel (a MOVED names the
// slot), one a command, in the order the commands were sent: when the
// waits of a kind on conn are registered in the order their commands are
// written (Subscribe's SSUBSCRIBEs are, under psMu), the first that
// matches is the one refused, and each later one has a reply of its own
// to come. Ending them all at the first refusal left the next refusal,
// of the second of two subscribes of a slot, with no wait to end.
func (a *acks) takeFirst(conn *goredis.PubSub, kind string, match func(channel string) bool) (string, *ackWait, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first *ackWait
	var firstKey ackKey
	for k, ws := range a.waiting {
		if k.conn != conn || k.kind != kind || !match(k.channel) {
			continue
		}
		for _, w := range ws {
			if first == nil || w.seq < first.seq {
				first, firstKey = w, k
			}
		}
	}
	if first == nil {
		return "", nil, false
	}
	a.dropLocked(firstKey, first)
	return firstKey.channel, first, true
}

// refuse ends w, taken by takeFirst, with Redis's refusal err.
func (w *ackWait) refuse(err error) {
	w.refused = err
	close(w.done)
}

// awaits reports whether a wait for kind of channel on conn is
// registered.
func (a *acks) awaits(conn *goredis.PubSub, kind, channel string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.waiting[ackKey{conn, kind, channel}]) > 0
}

// forget drops a wait that gave up, so that it does not pile up.
func (a *acks) forget(conn *goredis.PubSub, kind, channel string, c *ackWait) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked(ackKey{conn, kind, channel}, c)
}

// dropLocked removes the wait c of k. a.mu must be held.
func (a *acks) dropLocked(k ackKey, c *ackWait) {
	ws := a.waiting[k]
	for i, w := range ws {
		if w == c {
			a.waiting[k] = append(ws[:i], ws[i+1:]...)
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
	return e.awaitConfirmed(ctx, ps, kind, channel, confirmed, broken)
}

// sendSubscribe sends a (s,p)subscribe of channel on ps, and returns the
// wait for Redis's confirmation, for awaitConfirmed. Nothing is sent once
// ctx ended.
func (e *Engine) sendSubscribe(ctx context.Context, ps *goredis.PubSub, kind, channel string) (*ackWait, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	confirmed := e.acks.expect(ps, kind, channel)
	wctx, cancel := e.sharedWrite(ctx)
	defer cancel()
	var err error
	switch kind {
	case "psubscribe":
		err = ps.PSubscribe(wctx, channel)
	case "ssubscribe":
		err = ps.SSubscribe(wctx, channel)
	default:
		err = ps.Subscribe(wctx, channel)
	}
	if err != nil {
		e.acks.forget(ps, kind, channel, confirmed)
		return nil, err
	}
	return confirmed, nil
}

// awaitConfirmed waits until Redis confirmed the command of confirmed
// (sendSubscribe's), or refused it (its error), ctx ends, or broken (nil:
// never) says the connection failed.
func (e *Engine) awaitConfirmed(ctx context.Context, ps *goredis.PubSub, kind, channel string, confirmed *ackWait, broken <-chan struct{}) error {
	var err error
	select {
	case <-confirmed.done:
		return confirmed.refused
	case <-broken:
		err = errConnBroken
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.acks.forget(ps, kind, channel, confirmed)
	return err
}
