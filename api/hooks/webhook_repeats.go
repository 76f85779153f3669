package hooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// A failover that lost a join or a leave from Redis after the nodes had
// handed it over has the node that made it make it again (store/redis
// sets Redis right after every reconnect, docs/protocol.md section 8),
// and that node queues its member event a second time. Subscriptions
// that were sent the first are not sent the second (broker's
// presence_watchers.go); nor is the backend: the sender remembers the
// member event of each user and topic it sent lately, and takes a
// member_added or member_removed that says what the last one sent of
// that user said out of the batch, so that a user's member events
// alternate, as joins and leaves do. Likewise a topic_occupied or
// topic_vacated that says of a topic what the last one sent said, which
// the engine queues when it sets a topic's holders right after a
// failover (store/redis webhook_held.go): a topic's events alternate.
//
// What a failover loses is what the master took in its last moments
// before it died, and the repeat comes once the nodes find the new
// master: so lately is two generations of repeatWindow, and at most
// maxRemembered events a generation (a generation that fills starts the
// next one early). A repeat of an event older than that is sent, and so
// is the first event of each user after another node took the lease:
// what that node sent is not known here. A lease that lapsed while the
// store failed over, and that this node takes again, keeps what it knows.
const (
	repeatWindow  = 2 * time.Minute
	maxRemembered = 100_000
)

// memberKey names one user on one topic, user "" (never a member) naming
// the topic itself, for its occupancy events: the first 128 bits of the
// SHA-256 of the topic's length, the topic and the user, which say
// which pair they are of unambiguously. Kept as the strings, a topic of
// 255 bytes made each remembered event cost 335 bytes of heap, 67 MB for
// the two generations one client joining many presence topics could
// fill; as 16 bytes, one costs 24 with a generation full
// (BenchmarkMemberMemory), some 5 MB for both. Two pairs of one key would have the second's event left out
// as a repeat of the first's, were it the same kind: with at most
// 2*maxRemembered keys remembered, the chance that an event's key is one
// of another pair is under 2^-110, and making two pairs collide on
// purpose takes some 2^64 hashes.
type memberKey [16]byte

// keyOf is the memberKey of user on topic.
func keyOf(topic, user string) memberKey {
	b := make([]byte, 0, binary.MaxVarintLen64+len(topic)+len(user))
	b = binary.AppendUvarint(b, uint64(len(topic)))
	b = append(append(b, topic...), user...)
	sum := sha256.Sum256(b)
	return memberKey(sum[:16])
}

// memberMemory is what the sender remembers of the member events it sent,
// by user and topic: true for member_added. Only the sender goroutine
// uses it.
type memberMemory struct {
	cur, prev map[memberKey]bool
	since     time.Time // when cur started
}

// last reports what the last member event sent of k said, if it is
// remembered.
func (m *memberMemory) last(k memberKey) (added, known bool) {
	if added, known = m.cur[k]; known {
		return added, true
	}
	added, known = m.prev[k]
	return added, known
}

// remember notes that an event saying added was sent of k at now.
func (m *memberMemory) remember(k memberKey, added bool, now time.Time) {
	m.age(now)
	if len(m.cur) >= maxRemembered {
		m.prev, m.cur, m.since = m.cur, nil, now
	}
	if m.cur == nil {
		m.cur = make(map[memberKey]bool)
	}
	m.cur[k] = added
}

// age starts the next generation once cur is a window old, and forgets
// both once it is two: the sender calls it while the queue is empty too,
// so that a node that stopped sending member events lets go of what it
// remembered (up to a few megabytes after a busy spell) within two
// windows, instead of holding it until its next member event. An event
// is still remembered for a window at least.
func (m *memberMemory) age(now time.Time) {
	switch idle := now.Sub(m.since); {
	case idle >= 2*repeatWindow:
		m.prev, m.cur, m.since = nil, nil, now
	case idle >= repeatWindow:
		m.prev, m.cur, m.since = m.cur, nil, now
	}
}

// forget drops everything: another node sent events since this one
// last did.
func (m *memberMemory) forget() { *m = memberMemory{} }

// memberEvent reads the name, topic and user of a member event, or the
// name and topic of an occupancy event (added: topic_occupied); ok is
// false for any other event.
func memberEvent(ev []byte) (k memberKey, added, ok bool) {
	if !bytes.HasPrefix(ev, []byte(`{"name":"member_`)) && !bytes.HasPrefix(ev, []byte(`{"name":"topic_`)) {
		return memberKey{}, false, false
	}
	var e struct{ Name, Topic, User string }
	if json.Unmarshal(ev, &e) != nil {
		return memberKey{}, false, false
	}
	switch e.Name {
	case "member_added":
		return keyOf(e.Topic, e.User), true, e.User != ""
	case "member_removed":
		return keyOf(e.Topic, e.User), false, e.User != ""
	case "topic_occupied":
		return keyOf(e.Topic, ""), true, true
	case "topic_vacated":
		return keyOf(e.Topic, ""), false, true
	}
	return memberKey{}, false, false
}

// withoutRepeats returns the events of a batch to post, leaving out
// member events that repeat the last one sent of their user, earlier ones
// of the batch included, and the member events it keeps; m is not
// changed, so that a batch the backend refuses is judged the same way
// when it goes again.
func (m *memberMemory) withoutRepeats(events [][]byte) (send [][]byte, sent map[memberKey]bool) {
	send = events[:0:0]
	for _, ev := range events {
		k, added, ok := memberEvent(ev)
		if ok {
			last, known := sent[k]
			if !known {
				last, known = m.last(k)
			}
			if known && last == added {
				continue
			}
			if sent == nil {
				sent = make(map[memberKey]bool)
			}
			sent[k] = added
		}
		send = append(send, ev)
	}
	return send, sent
}
