package redis

import (
	"github.com/herald-broker/herald/broker"
)

// WatchMembers has fn told every join and leave this node's scripts
// publish: the ones its sessions cause, and those of the dead nodes it
// cleans up after. Each change of the cluster reaches exactly one node's
// fn, which is what the member_added and member_removed webhooks need
// (docs/protocol.md section 11). fn must not block.
func (e *Engine) WatchMembers(fn func(broker.PresenceChange)) {
	e.members.Store(&fn)
}

// membersChanged tells the watcher the changes whose payloads a presence
// script returned, one after another; a reply that holds none (a count)
// tells nothing.
func (e *Engine) membersChanged(payloads string) {
	fn := e.members.Load()
	if fn == nil {
		return
	}
	for len(payloads) >= 2 && payloads[0] == '\n' {
		c, rest, err := parseChangePrefix(payloads)
		if err != nil {
			e.log.Error("a presence script returned a malformed change")
			return
		}
		(*fn)(c)
		payloads = rest
	}
}
