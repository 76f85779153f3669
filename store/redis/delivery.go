package redis

import (
	"context"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// dispatch takes one message from the pub/sub connection and delivers it if
// a subscription of this node covers its topic (a glob over-matches).
func (e *Engine) dispatch(ctx context.Context, msg *goredis.Message) {
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
	if st := e.subs.state(topic); st != nil {
		e.deliver(ctx, st, m)
	}
}

// deliver hands m over in seq order: a duplicate is dropped, what is
// missing before it is filled from the stream or reported as a gap, and a
// new epoch starts over.
func (e *Engine) deliver(ctx context.Context, st *topicState, m *broker.Message) {
	e.subs.active.note(st)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case m.Epoch == st.prev && st.prev != "":
		return // published before the epoch changed, and late
	case st.epoch == "": // first message of a topic a pattern covers: see subscriptions.state
		st.epoch, st.last = m.Epoch, m.Seq-1
	case st.epoch != m.Epoch:
		e.newEpochLocked(st, m.Epoch)
	}
	if m.Seq <= st.last {
		if m.Seq == st.last && st.lastID != "" && m.ID != st.lastID {
			e.rebaseLocked(ctx, st, storedPos{m.Epoch, m.Seq, m.ID}) // the seq was given again
		}
		return // else a duplicate, or a seq given again before st.last, which the next check finds
	}
	if m.Seq > st.last+1 && e.cfg.HistorySize > 0 {
		e.fillLocked(ctx, st, m.Seq-1)
	}
	e.handLocked(st, m)
}

// newEpochLocked starts delivery of st's topic over in epoch. What the old
// epoch still owed is not a gap: every message of the new epoch carries
// it, so subscribers see that the topic's history broke.
func (e *Engine) newEpochLocked(st *topicState, epoch string) {
	e.log.Info("topic has a new epoch", zap.String("topic", st.topic),
		zap.String("old", st.epoch), zap.String("new", epoch))
	st.prev = st.epoch
	st.epoch, st.last, st.lastID = epoch, 0, ""
}

// fillLocked hands over the messages after st.last up to seq upto that the
// stream of st's epoch still holds. What it cannot read is reported as a
// gap when the next message is handed over: holding the receive loop until
// Redis answers would stall every topic and could get the connection
// dropped for a full output buffer. st.mu must be held.
func (e *Engine) fillLocked(ctx context.Context, st *topicState, upto uint64) {
	res, err := e.read(ctx, st.topic, "", st.last, -1, upto)
	if err != nil {
		e.log.Warn("cannot fill a gap from history", zap.String("topic", st.topic), zap.Error(err))
		return
	}
	if res.Epoch == st.epoch { // else the stream holds another epoch now
		e.handAllLocked(st, res.Messages)
	}
}

func (e *Engine) handAllLocked(st *topicState, ms []*broker.Message) {
	for _, m := range ms {
		if m.Seq > st.last {
			e.handLocked(st, m)
		}
	}
}

// handLocked hands m, of st's epoch, over. It is the one way messages
// reach the Handler, and whatever seqs lie between the last one handed
// over and m are reported as a gap first: the Handler contract allows no
// silent skip. st.mu must be held.
func (e *Engine) handLocked(st *topicState, m *broker.Message) {
	if st.gone.Load() {
		return
	}
	if m.Seq > st.last+1 {
		e.gapLocked(st, m.Seq-1)
	}
	st.last, st.lastID = m.Seq, m.ID
	if b := e.handler.Load(); b != nil {
		b.h.HandleMessage(m)
	}
}

// gapLocked reports the seqs after st.last up to to, of st's epoch, as
// never to be delivered, and moves st.last past them. st.mu must be held.
func (e *Engine) gapLocked(st *topicState, to uint64) {
	if st.gone.Load() || to <= st.last {
		return
	}
	g := broker.Gap{Topic: st.topic, Epoch: st.epoch, From: st.last + 1, To: to}
	st.last, st.lastID = to, ""
	e.log.Warn("messages lost: reported as a gap", zap.String("topic", g.Topic),
		zap.String("epoch", g.Epoch), zap.Uint64("from", g.From), zap.Uint64("to", g.To))
	if b := e.handler.Load(); b != nil {
		b.h.HandleGap(g)
	}
}

// checkBatch is how many topics' positions one pipelined round trip reads.
const checkBatch = 256

// checkAll delivers from history what pub/sub lost of the topics of
// states. It reads their positions in Redis, then probes the pub/sub
// connection: once the probe is back, every message published before the
// positions were read has come through the connection and been handed
// over, so whatever is still missing up to those positions was lost, and
// not merely on its way. It reports whether every topic was checked
// (Redis may not answer), and returns the probe's error.
func (e *Engine) checkAll(ctx context.Context, states []*topicState) (bool, error) {
	if len(states) == 0 {
		return true, nil // nothing to check; the probe ticker watches the connection
	}
	// What was handed over before the positions were read was published
	// before: a position below it went back (see diverged).
	handed := make([]storedPos, len(states))
	for i, st := range states {
		handed[i] = st.handed()
	}
	positions, err := e.positions(ctx, states)
	if err != nil {
		e.log.Debug("cannot check positions now", zap.Error(err))
		return false, nil
	}
	if err := e.probe(ctx); err != nil {
		return false, err
	}
	for i, st := range states {
		if err := e.check(ctx, st, handed[i], positions[i]); err != nil {
			e.log.Debug("cannot check a topic now", zap.String("topic", st.topic), zap.Error(err))
			return false, nil
		}
	}
	return true, nil
}

// positions reads the position in Redis of each topic of states, in
// pipelined batches.
func (e *Engine) positions(ctx context.Context, states []*topicState) ([]storedPos, error) {
	out := make([]storedPos, 0, len(states))
	for len(states) > 0 {
		n := min(len(states), checkBatch)
		batch, err := e.positionBatch(ctx, states[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		states = states[n:]
	}
	return out, nil
}

// positionBatch reads the meta hash of each topic of states in one
// pipeline; on Redis Cluster go-redis sends it to each slot's master.
func (e *Engine) positionBatch(ctx context.Context, states []*topicState) ([]storedPos, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	pipe := e.rdb.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(states))
	for i, st := range states {
		cmds[i] = pipe.HMGet(ctx, e.keys.meta(st.topic), "epoch", "seq", "id")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, e.fail("check", err)
	}
	out := make([]storedPos, len(states))
	for i := range states {
		v := cmds[i].Val()
		out[i].epoch, _ = v[0].(string)
		seq, _ := v[1].(string)
		out[i].seq, _ = strconv.ParseUint(seq, 10, 64)
		out[i].id, _ = v[2].(string)
	}
	return out, nil
}

// check hands over the messages of st's topic up to at (its position in
// Redis, known lost by pub/sub) that history holds and were not handed over,
// and reports the rest as a gap; a topic in a new epoch is handed over from
// that epoch's start, and one whose position went back in its epoch below
// handed (where delivery stood before at was read) is started a new one
// (see rebaseLocked).
func (e *Engine) check(ctx context.Context, st *topicState, handed, at storedPos) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone.Load() || st.epoch == "" || at.epoch == "" {
		return nil
	}
	if handed.epoch == st.epoch && diverged(handed, at) {
		e.rebaseLocked(ctx, st, at)
		return nil
	}
	if at.epoch == st.epoch && at.seq <= st.last {
		return nil
	}
	since := st.last
	if at.epoch != st.epoch {
		since = 0
	}
	// Read the last message handed over too, to see that its seq still
	// names it: a failover may have lost it and given its seq again.
	verify := at.epoch == st.epoch && st.lastID != "" && since > 0
	if verify {
		since--
	}
	res, err := e.read(ctx, st.topic, "", since, -1, at.seq)
	if err != nil || res.Epoch != at.epoch {
		return err // or the epoch changed again since: the next check sees it
	}
	if verify && len(res.Messages) > 0 && res.Messages[0].Seq == st.last && res.Messages[0].ID != st.lastID {
		e.rebaseLocked(ctx, st, at)
		return nil
	}
	if at.epoch != st.epoch {
		e.newEpochLocked(st, at.epoch)
	}
	before := st.last
	e.subs.active.note(st) // traffic: check the topic again soon
	e.handAllLocked(st, res.Messages)
	e.log.Info("delivered from history what pub/sub lost", zap.String("topic", st.topic),
		zap.Uint64("after", before), zap.Int("count", len(res.Messages)))
	e.gapLocked(st, at.seq) // gone from history, and no message after them to show it
	return nil
}
