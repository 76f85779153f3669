package redis

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

// Joins and leaves are decided where they come from, a receive loop
// (dispatchChange) or the supervisor's replay (replayMark), with their
// topic's mark's mu held: whether a change follows on, and the mark moved
// past it, in one step. They are handed to the Handler by a goroutine of
// their own, in the order they were queued: a Handler that takes its time
// holds up neither the receive loops, whose probes would fail and have
// the connection replaced, nor the supervisor's probes, position checks
// and replays, which take every mark's mu in turn, nor other topics'
// subscriptions: an unsubscribe of the topic waits for its change being
// handed over, but not with psMu held (changeMark.handedOver).
//
// Each change is queued once, with its mark's mu held, so a topic's
// changes enter the queue in the order its mark took them, and one
// goroutine hands them over in that order, one at a time: the Handler
// gets each change once, in order, never two at once.

// presenceQueue bounds the changes queued and not handed over yet. A
// Handler so far behind has whoever decides the next change wait, as
// every change waited for the Handler before the queue.
const presenceQueue = 1024

// queuedChange is a change for the Handler, with the mark it went past.
type queuedChange struct {
	mark   *changeMark
	change broker.PresenceChange
}

// queueChangeLocked queues c, which m went past, for the Handler. m.mu
// must be held. It waits while the queue is full, unless the engine
// closes.
//
// A change may say of its user what the last one handed over did: a
// failover can lose a join or a leave Redis had taken (replication is
// asynchronous) after the nodes handed it over, and the node that made it
// adds its entry again, or removes it again, once reconnected
// (presence_resync.go). It is handed over all the same: the subscribers
// that came after the first need it, and the broker sends it to those
// only (broker/presence_watchers.go).
func (e *Engine) queueChangeLocked(m *changeMark, c broker.PresenceChange) {
	select {
	case e.presOut <- queuedChange{mark: m, change: c}:
	case <-e.runCtx.Done():
	}
}

// handPresence hands the queued changes to the Handler, in the order
// they were queued, until ctx ends; a change of a topic unsubscribed
// since is dropped. What is queued then is not handed over: the engine
// closes.
func (e *Engine) handPresence(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-e.presOut:
			q.mark.handing.Lock()
			if b := e.handler.Load(); b != nil && !q.mark.gone.Load() {
				b.h.HandlePresence(q.change)
			}
			q.mark.handing.Unlock()
		}
	}
}
