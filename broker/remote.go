package broker

import (
	"context"
	"sync"
)

// remoteSubs counts this node's subscriptions per pattern and tells the
// engine when a pattern gains its first one and loses its last. Calls for
// one pattern are serialised so the engine never sees them out of order.
type remoteSubs struct {
	engine Engine
	mu     sync.Mutex
	byPat  map[string]*remoteSub
	events EventReporter // nil: none
	claims occupancyClaims
}

type remoteSub struct {
	mu     sync.Mutex // held across the engine call
	refs   int        // guarded by remoteSubs.mu
	active bool       // the engine has it; guarded by mu
}

func newRemoteSubs(e Engine) *remoteSubs {
	return &remoteSubs{engine: e, byPat: make(map[string]*remoteSub)}
}

// acquire takes one reference on pattern, subscribing the engine when it is
// the first, and reports whether it told the reporter the topic is held
// (TopicHeld). On error nothing is held.
func (r *remoteSubs) acquire(ctx context.Context, pattern string) (reported bool, err error) {
	r.mu.Lock()
	rs := r.byPat[pattern]
	if rs == nil {
		rs = &remoteSub{}
		r.byPat[pattern] = rs
	}
	rs.refs++
	r.mu.Unlock()

	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.active {
		return false, nil
	}
	if err := r.engine.Subscribe(ctx, pattern); err != nil {
		r.drop(pattern, rs)
		return false, err
	}
	rs.active = true
	return r.reportHeld(pattern), nil
}

// holds reports whether pattern has a reference here: a subscribe of it
// asks the engine nothing more, or waits for the one that does.
func (r *remoteSubs) holds(pattern string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byPat[pattern] != nil
}

// release gives back one reference, unsubscribing the engine with the last.
// A failed unsubscribe only leaves the engine sending what nobody here
// wants; it is returned for logging.
func (r *remoteSubs) release(ctx context.Context, pattern string) error {
	r.mu.Lock()
	rs := r.byPat[pattern]
	r.mu.Unlock()
	if rs == nil {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var err error
	if r.lastRef(rs) && rs.active {
		err = r.engine.Unsubscribe(ctx, pattern)
		rs.active = false
		r.reportLeft(pattern)
	}
	r.drop(pattern, rs)
	return err
}

func (r *remoteSubs) lastRef(rs *remoteSub) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rs.refs == 1
}

// drop gives back one reference and forgets the pattern when none is left
// and the engine does not have it. Called with rs.mu held.
func (r *remoteSubs) drop(pattern string, rs *remoteSub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs.refs--
	if rs.refs == 0 && !rs.active {
		delete(r.byPat, pattern)
	}
}
