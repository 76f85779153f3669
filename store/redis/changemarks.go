package redis

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// A node hands each topic's joins and leaves over in the order of the
// topic's change log (changes.go), each once, and knows when it missed
// some. Per topic it subscribed exactly (not by a pattern) that keeps
// presence (Config.KeepsPresence), a mark holds the ID of the last change
// it handed over. A change from pub/sub whose link names that ID as the
// one before follows on, and is handed
// over; one at or below it was handed over already, by a replay; any
// other shows that changes in between were missed: it is not handed over,
// the mark falls behind, and the supervisor reads the log from the mark
// and hands over, in order, what the log holds (changereplay.go). A
// replaced pub/sub connection may have lost the last changes before it
// with none after to show it, so every mark falls behind then too.
//
// A mark opens when the node subscribes the topic, before the subscribe
// is sent, and starts where the log ended when the subscription's
// position was read (read in the same step), or at the first change that
// arrives before that: every change published after Subscribe returns
// reaches the Handler, as every message does. It goes when the topic is
// unsubscribed. So marks cost one small struct per exact subscription
// to a presence topic, and a replay one read per such subscription (an
// empty one for a topic nobody is present on). A node that is not told
// which topics keep presence keeps a mark for every exact subscription.
//
// A topic's log goes with its last presence entry, and leaves the ID of
// its last change behind for a while (changes.go): the next log's first
// change names that ID as the one before, and gets an ID past it, so the
// chain goes on across logs. A mark a replay finds past the end of its
// log looks there: at that ID, nothing was missed; before it, the changes
// in between went with the log. Without it (the log went back in a
// failover, or went long ago) the mark goes on from where the log ended
// as it was read, whatever its ID: a log that starts anew takes its IDs
// from Redis's clock, which may be behind the mark. Every mark but one
// not started yet so has a place in the log to read from.
//
// The end is kept for changeLogKeep only, and a topic may go longer
// without a change while it has entries, anonymous ones, which make
// none, or while a subscriber's join is on its way: the next log then
// starts from noChange. A mark at the old end whose pub/sub link has not
// broken since it was known to miss nothing (it opened, or a replay
// settled it) takes that change as following on: a change in between
// would have come first, on the same connection, and a break counts in
// changeMarks.breaks before anything the connection brings after it. A
// link that broke meanwhile may have lost a whole log, so such a mark
// reads its log, and counts the gap (changereplay.go).

// linkPhase says which change of a topic may be handed over next.
type linkPhase uint8

const (
	// linked: the next change is the one whose link names last as the
	// change before it.
	linked linkPhase = iota
	// unlinked: nothing is known to link to, before the first change or
	// after a loss broke the chain: the next change after last (any
	// change, while last is "") starts the chain again.
	unlinked
)

// changeMark is where the node stands in one topic's change log.
type changeMark struct {
	topic string

	mu    sync.Mutex // held while a change of the topic is decided and queued (changehandover.go)
	phase linkPhase
	// last is the ID of the last change handed over, or where the log
	// ended when the mark started (noChange: it had no entry); "": none.
	last string
	// behind says the log may hold changes after last that were not
	// handed over: the supervisor is to read it.
	behind bool
	// breaks is what changeMarks.breaks counted when the mark last
	// missed nothing that pub/sub would not bring: when it opened, or
	// when a replay found nothing more to read.
	breaks uint64
	// ahead is the highest ID of a change pub/sub brought that did not
	// follow on ("": none since the last replay), so that a replay that
	// read the log before it came reads again, and one that read it after
	// and found it lost (see settleLocked) counts the gap.
	ahead string
	// gone says the topic was unsubscribed: hand nothing over. Set with
	// mu held, read without it by the hand-over.
	gone atomic.Bool
	// handing is held while one of the mark's changes is handed over,
	// so that Unsubscribe returns only once none is (handedOver).
	handing sync.Mutex
}

// changeMarks are the marks of the topics this node hands changes of.
type changeMarks struct {
	mu     sync.Mutex
	topics map[string]*changeMark
	nudge  chan struct{} // a mark fell behind: the supervisor replays

	trouble replayTrouble // the supervisor's alone

	// breaks counts the breaks of pub/sub connections that carry topics,
	// each counted before anything comes through the connection that
	// replaces it (linkBroke).
	breaks atomic.Uint64

	replayed atomic.Uint64 // changes handed over from the logs, for tests
	logReads atomic.Uint64 // reads of a log by replays, for tests
}

func newChangeMarks() changeMarks {
	return changeMarks{topics: make(map[string]*changeMark), nudge: make(chan struct{}, 1)}
}

// openMark gives topic a mark, unlinked, unless it has one: a change
// that arrives before the mark starts (startMark) starts it. Subscribe
// calls it before the subscribe is sent, with psMu held.
func (e *Engine) openMark(topic string) {
	e.marks.mu.Lock()
	defer e.marks.mu.Unlock()
	if e.marks.topics[topic] == nil {
		e.marks.topics[topic] = &changeMark{topic: topic, phase: unlinked, breaks: e.marks.breaks.Load()}
	}
}

// markOf returns topic's mark; nil when the topic is not subscribed (a
// pattern's glob brings changes of topics presence does not reach).
func (e *Engine) markOf(topic string) *changeMark {
	e.marks.mu.Lock()
	defer e.marks.mu.Unlock()
	return e.marks.topics[topic]
}

// startMark links topic's mark to tail, where the change log ended when
// the subscription's position was read, unless a change arrived before:
// every change after tail reaches the node.
func (e *Engine) startMark(topic, tail string) {
	m := e.markOf(topic)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase == unlinked && m.last == "" {
		m.phase, m.last = linked, tail
	}
}

// dropMark forgets topic's mark, once the topic is unsubscribed (or its
// subscribe failed): none of its changes is handed over from now on but
// the one the hand-over may be in. It returns the mark, for the caller to
// wait for that one (handedOver) once it let go of psMu.
func (e *Engine) dropMark(topic string) *changeMark {
	e.marks.mu.Lock()
	m := e.marks.topics[topic]
	delete(e.marks.topics, topic)
	e.marks.mu.Unlock()
	if m != nil {
		m.mu.Lock()
		m.gone.Store(true)
		m.mu.Unlock()
	}
	return m
}

// handedOver returns once no change of m is being handed over; a nil m
// at once. Unsubscribe and a failed Subscribe wait so before they return,
// so that a change of the subscription ends before the topic's next one,
// which its caller starts after, and without psMu held, so that a Handler
// that takes its time over it holds up no other topic's subscription and
// no reconnect.
func (m *changeMark) handedOver() {
	if m != nil {
		m.handing.Lock()
		m.handing.Unlock()
	}
}

// dispatchChange hands a join or leave from topic's channel to the
// Handler if it follows on from the last one handed over (see
// changeMarks); it drops one handed over already, and holds back one that
// shows others were missed, for the supervisor to read them from the log.
// One without a link is handed over as it comes.
func (e *Engine) dispatchChange(topic, payload string) {
	c, link, err := parseChange(payload)
	if err != nil || c.Topic != topic {
		e.log.Error("dropped a malformed presence change", zap.String("topic", topic), zap.Error(err))
		return
	}
	m := e.markOf(topic)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.gone.Load():
	case link == changeLink{}:
		// Published by a node of a release before the change log (a rolling
		// update): it has no place to check, and is handed over as it
		// comes. The next linked change starts the chain again.
		m.phase = unlinked
		e.queueChangeLocked(m, c)
	case m.last != "" && !idAfter(link.id, m.last): // a replay handed it over
	case m.phase == linked && link.prev != m.last && !e.startsAnewLocked(m, link):
		if m.ahead == "" || idAfter(link.id, m.ahead) {
			m.ahead = link.id
		}
		m.behind = true
		e.nudgeReplay()
	default:
		e.handChangeLocked(m, c, link.id)
	}
}

// startsAnewLocked reports whether a change that names no change before
// it follows on from m all the same: its topic's log started anew after
// the one m stands in went and its end lapsed, with m's link up all the
// while (see changeMarks). m.mu must be held.
func (e *Engine) startsAnewLocked(m *changeMark, link changeLink) bool {
	return link.prev == noChange && !m.behind && m.breaks == e.marks.breaks.Load()
}

// linkBroke counts a break of a pub/sub connection, or its replacement,
// before the connection that replaces it carries anything: what the old
// one lost, no mark may take as having come.
func (e *Engine) linkBroke() { e.marks.breaks.Add(1) }

// handChangeLocked takes m past c, of ID id in m's log, and queues c for
// the Handler. m.mu must be held.
func (e *Engine) handChangeLocked(m *changeMark, c broker.PresenceChange, id string) {
	m.phase, m.last = linked, id
	e.queueChangeLocked(m, c)
}

// allMarksBehind has every mark whose link broke since it was known to
// miss nothing read its log: a pub/sub connection was replaced, and what
// it lost just before, no later change shows. The others (those of
// topics subscribed on the first connection, when the supervisor's first
// watch starts after them) missed nothing, and read nothing: read, a mark
// past a log that went and lapsed would count a gap no change fell in.
func (e *Engine) allMarksBehind() {
	breaks := e.marks.breaks.Load()
	e.marks.mu.Lock()
	marks := make([]*changeMark, 0, len(e.marks.topics))
	for _, m := range e.marks.topics {
		marks = append(marks, m)
	}
	e.marks.mu.Unlock()
	for _, m := range marks {
		m.mu.Lock()
		if m.breaks != breaks {
			m.behind = true
		}
		m.mu.Unlock()
	}
}

// marksBehind has the marks of topics read their logs, and tells the
// supervisor: a shard connection that carried them was replaced.
func (e *Engine) marksBehind(topics []string) {
	e.marks.mu.Lock()
	var marks []*changeMark
	for _, t := range topics {
		if m := e.marks.topics[t]; m != nil {
			marks = append(marks, m)
		}
	}
	e.marks.mu.Unlock()
	setBehind(marks)
	if len(marks) > 0 {
		e.nudgeReplay()
	}
}

func setBehind(marks []*changeMark) {
	for _, m := range marks {
		m.mu.Lock()
		m.behind = true
		m.mu.Unlock()
	}
}

// nudgeReplay tells the supervisor that a mark fell behind.
func (e *Engine) nudgeReplay() {
	select {
	case e.marks.nudge <- struct{}{}:
	default: // told already
	}
}

// behindMarks returns the marks to replay: behind, and with a place in
// the log to read from.
func (e *Engine) behindMarks() []*changeMark {
	e.marks.mu.Lock()
	all := make([]*changeMark, 0, len(e.marks.topics))
	for _, m := range e.marks.topics {
		all = append(all, m)
	}
	e.marks.mu.Unlock()
	out := all[:0]
	for _, m := range all {
		m.mu.Lock()
		if m.behind && m.last == "" {
			m.behind = false // not started yet (startMark), so nothing to read from: its first change starts it
		}
		if m.behind {
			out = append(out, m)
		}
		m.mu.Unlock()
	}
	return out
}
