package redis

import (
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// dispatch takes one message from the pub/sub connection and delivers it if
// a subscription of this node covers its topic (a glob over-matches).
func (e *Engine) dispatch(msg *goredis.Message) {
	topic, ok := e.keys.topicOf(msg.Channel)
	if !ok {
		return
	}
	if isChange(msg.Payload) { // a join or leave, which has no seq
		e.dispatchChange(topic, msg.Payload)
		return
	}
	m, err := parsePayload(msg.Payload)
	if err != nil || m.Topic != topic {
		e.log.Error("dropped a malformed message", zap.String("channel", msg.Channel), zap.Error(err))
		return
	}
	switch st, long := e.subs.stateOrLongWalk(topic); {
	case st != nil:
		e.deliver(st, m)
	case long:
		e.checkMatch(topic)
	}
}

// checkMatch tells the Handler of a topic none of this node's patterns
// matches though its match went through more than broker.MaxWalkedNodes
// trie nodes (broker.MatchChecker): the broker closes the connections
// whose patterns make it so, which would otherwise make every message
// of the topic cost that walk here without reaching the broker.
func (e *Engine) checkMatch(topic string) {
	if box := e.handler.Load(); box != nil {
		if mc, ok := box.h.(broker.MatchChecker); ok {
			mc.CheckMatch(topic)
		}
	}
}

// deliver hands m over in seq order: a duplicate is dropped, and a new
// epoch starts over. When seqs are missing before m, m is held, and the
// refill goroutine reads them from the stream (or finds them gone: a gap)
// before m is handed over (refill.go): deliver runs on a receive loop,
// which must not wait on Redis, as every topic of its connection would
// wait with it.
func (e *Engine) deliver(st *topicState, m *broker.Message) {
	e.subs.active.note(st)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.left.has(m.Epoch):
		return // published before delivery left its epoch, and late, or Redis went back to it (see failover.go)
	case st.rebasing && m.Epoch == st.epoch:
		return // of the epoch being left (see beginRebaseLocked)
	case st.epoch == "": // first message of a topic a pattern covers: see subscriptions.state
		e.startLocked(st, m)
	case st.epoch != m.Epoch:
		e.newEpochLocked(st, m.Epoch)
	}
	if m.Seq <= st.last {
		if m.Seq == st.last && st.lastID != "" && m.ID != st.lastID {
			e.rebaseLater(st, storedPos{m.Epoch, m.Seq, m.ID}) // the seq was given again; off this loop
		}
		return // else a duplicate, or a seq given again before st.last, which the next check finds
	}
	if len(st.held) > 0 || m.Seq > st.last+1 && e.cfg.HistorySize > 0 {
		e.holdLocked(st, m) // behind a hole, read off this loop
		return
	}
	e.handLocked(st, m) // a gap first if history keeps nothing to fill it from
}

// newEpochLocked starts delivery of st's topic over in epoch. What the old
// epoch still owed is not a gap, nor are the messages held behind a hole
// of it (refill.go), dropped: every message of the new epoch carries it,
// so subscribers see that the topic's history broke.
func (e *Engine) newEpochLocked(st *topicState, epoch string) {
	e.log.Info("topic has a new epoch", zap.String("topic", st.topic),
		zap.String("old", st.epoch), zap.String("new", epoch), zap.Int("held_dropped", len(st.held)))
	st.left.push(st.epoch)
	st.epoch, st.last, st.lastID, st.held, st.catchUp, st.rebasing, st.refused = epoch, 0, "", nil, 0, false, false
}

// handAllLocked hands over those of ms, of st's epoch and in seq order,
// that come after the last one handed over. st.mu must be held.
func (e *Engine) handAllLocked(st *topicState, ms []*broker.Message) {
	for _, m := range st.owedOf(ms) {
		if m.Seq > st.last {
			e.handLocked(st, m)
		}
	}
}

// handLocked hands m, of st's epoch, over, then the held messages that
// follow on from it (refill.go). st.mu must be held.
func (e *Engine) handLocked(st *topicState, m *broker.Message) {
	e.handOneLocked(st, m)
	e.drainLocked(st)
}

// handOneLocked hands m, of st's epoch, over. It is the one way messages
// reach the Handler, and whatever seqs lie between the last one handed
// over and m are reported as a gap first: the Handler contract allows no
// silent skip. st.mu must be held.
func (e *Engine) handOneLocked(st *topicState, m *broker.Message) {
	if st.gone.Load() || st.rebasing {
		return
	}
	if m.Seq > st.last+1 {
		e.gapLocked(st, m.Seq-1)
	}
	st.last, st.lastID, st.catchUp = m.Seq, m.ID, 0
	if b := e.handler.Load(); b != nil {
		b.h.HandleMessage(m)
	}
}

// gapLocked reports the seqs after st.last up to to, of st's epoch, as
// never to be delivered, and moves st.last past them. st.mu must be held.
func (e *Engine) gapLocked(st *topicState, to uint64) {
	if st.gone.Load() || st.rebasing || to <= st.last {
		return
	}
	g := broker.Gap{Topic: st.topic, Epoch: st.epoch, From: st.last + 1, To: to}
	st.last, st.lastID, st.catchUp = to, "", 0
	e.log.Warn("messages lost: reported as a gap", zap.String("topic", g.Topic),
		zap.String("epoch", g.Epoch), zap.Uint64("from", g.From), zap.Uint64("to", g.To))
	if b := e.handler.Load(); b != nil {
		b.h.HandleGap(g)
	}
}
