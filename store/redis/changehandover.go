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

// queueChangeLocked queues c, which m went past, for the Handler, unless
// it says of its user what the last one handed over did. m.mu must be
// held. It waits while the queue is full, unless the engine closes.
func (e *Engine) queueChangeLocked(m *changeMark, c broker.PresenceChange) {
	if !m.said.alternates(c) {
		return
	}
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

// A failover can lose a join or a leave Redis had taken (replication is
// asynchronous), after the nodes watching the topic handed it over. The
// node that made it then adds its entry again, or removes it again, once
// reconnected (presence_resync.go), and so makes the same change a second
// time: a second join of a user with no leave between, or a second leave,
// where docs/protocol.md section 8 has joins and leaves of one user
// alternate. The node that made it cannot tell which nodes handed the
// first over, and those whose log went back without it need the second,
// so each node drops a change that says what its last one of that user
// said.

// announced is what a topic's last change handed over said of each
// user. The users who left are forgotten, all at once, when they
// outnumber those present by maxLeftKept, so that a topic with many
// comings and goings costs memory for about its members only; a repeated
// leave of a user forgotten goes through.
type announced struct {
	joined map[string]bool // user -> its last change was a join
	in     int             // users whose last change was a join
}

// maxLeftKept is how many more users who left than users present a
// topic's announced keeps.
const maxLeftKept = 1024

// alternates reports whether c says of its user something other than the
// last change handed over did (or nothing was handed over of the user),
// and records it if so.
func (a *announced) alternates(c broker.PresenceChange) bool {
	was, known := a.joined[c.User]
	if known && was == c.Join {
		return false
	}
	if a.joined == nil {
		a.joined = make(map[string]bool)
	}
	a.joined[c.User] = c.Join
	switch {
	case c.Join:
		a.in++
	case known:
		a.in--
	}
	if len(a.joined) > 2*a.in+maxLeftKept {
		for u, in := range a.joined {
			if !in {
				delete(a.joined, u)
			}
		}
	}
	return true
}
