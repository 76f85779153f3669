package broker

import "time"

// Some subscribes have Redis do far more work than the 7.5 commands a
// counted command takes when subscribing to and leaving a new topic
// (15 for the pair), and count as the commands that work costs toward
// the budget of the client's address, which bounds the Redis work an
// address causes, rather than have it allow two or three times the
// work. The connection's own rate counts them once, as commands, so
// that one client moving between presence topics is not held to a
// third of its rate. Measured on one Redis
// (e2e's TestSubscribesCountTheirRedisWork, BENCHMARKS.md, Hardening):
//
//   - with the webhooks on (Config.Events), a subscribe that makes the
//     node hold a topic has it record the topic occupied and, once its
//     last subscriber here leaves, vacated, each with its event queued,
//     waited out, sent and taken off the queue, in the webhooks' one slot
//     (one master of a Cluster, whatever the topic): 37 commands for the
//     pair, 22 more than without. That work is what tells the backend in
//     order, whichever node made the change, and survives a failover;
//   - a subscribe that joins a topic's presence has the topic's entry of
//     the session added and removed, and its members' count and change
//     log kept: 28 commands for the pair, 13 more than a topic without
//     presence, anonymous sessions included.

// OccupancyCommands is how many commands more than itself a client's
// subscribe counts when it makes this node hold a topic (the reporter
// told TopicHeld), with the webhooks on: its vacating later is in it.
const OccupancyCommands = 3

// PresenceJoinCommands is how many commands more than itself a client's
// subscribe counts when it joins a topic's presence: its leave later is
// in it.
const PresenceJoinCommands = 2

// chargeSubscribeWork takes n commands more for sub's subscribe from the
// budget of the client's address, owing what it cannot take, when sub is
// the client's own: a backend's subscribe is not counted against the
// client, as its commands are not.
func (s *Session) chargeSubscribeWork(sub *subscription, n int) {
	if !sub.marked(markServer) {
		s.chargeAddress(time.Now().UnixNano(), n)
	}
}
