package memory

import "github.com/herald-broker/herald/broker"

// WatchMembers has fn told every join and leave, in the order the
// Handler gets them: on one node every change is this node's, which is
// what the member_added and member_removed webhooks need
// (docs/protocol.md section 11). fn must not block.
func (e *Engine) WatchMembers(fn func(broker.PresenceChange)) {
	e.members.Store(&fn)
}
