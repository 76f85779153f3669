package hooks

import (
	"encoding/json"

	"github.com/herald-broker/herald/broker"
)

// What the broker and the engine report (broker.EventReporter,
// MemberWatcher), turned into the webhook events docs/protocol.md
// section 11 names and handed to the recorder.

// TopicHeld queues topic_occupied if no node had topic.
func (w *Webhooks) TopicHeld(topic string) {
	w.push(report{kind: reportHeld, topic: topic, event: topicEvent("topic_occupied", topic),
		other: topicEvent("topic_vacated", topic)})
}

// TopicLeft starts topic's wait to be vacated if no node has it now.
func (w *Webhooks) TopicLeft(topic string) {
	w.push(report{kind: reportLeft, topic: topic, event: topicEvent("topic_vacated", topic)})
}

// ClientConnected records the connection with this node, so that its
// end is reported (1006) even if the node dies with it.
func (w *Webhooks) ClientConnected(session, user string) {
	w.push(report{kind: reportConnected, topic: session, event: disconnectedEvent(session, user, 1006)})
}

// ClientDisconnected queues client_disconnected.
func (w *Webhooks) ClientDisconnected(session, user string, code int) {
	w.push(report{kind: reportDisconnected, topic: session, event: disconnectedEvent(session, user, code)})
}

func disconnectedEvent(session, user string, code int) []byte {
	ev, _ := json.Marshal(struct {
		Name    string `json:"name"`
		Session string `json:"session"`
		User    string `json:"user"`
		Code    int    `json:"code"`
	}{"client_disconnected", session, user, code})
	return ev
}

func topicEvent(name, topic string) []byte {
	ev, _ := json.Marshal(struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
	}{name, topic})
	return ev
}

// MemberWatcher is an engine that tells one node of the cluster about
// each join and leave of presence (docs/protocol.md section 8): the node
// whose session caused it, or that cleaned up after a dead node.
// store/memory and store/redis implement it.
type MemberWatcher interface {
	WatchMembers(fn func(broker.PresenceChange))
}

// MemberChanged queues member_added for a join, member_removed for a
// leave. It does not block: give it to MemberWatcher.WatchMembers.
func (w *Webhooks) MemberChanged(c broker.PresenceChange) {
	name := "member_removed"
	if c.Join {
		name = "member_added"
	}
	ev, _ := json.Marshal(struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
		User  string `json:"user"`
	}{name, c.Topic, c.User})
	w.push(report{kind: reportMember, topic: c.Topic, event: ev, seq: c.Seq, after: c.After})
}
