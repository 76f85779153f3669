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
	m, err := parsePayload(msg.Payload)
	if err != nil || m.Topic != topic {
		e.log.Error("dropped a malformed message", zap.String("channel", msg.Channel), zap.Error(err))
		return
	}
	if st := e.subs.state(topic); st != nil {
		e.deliver(ctx, st, m)
	}
}

// deliver hands m over in seq order: a duplicate is dropped, a gap before it
// is filled from the stream first, and a new epoch starts over.
func (e *Engine) deliver(ctx context.Context, st *topicState, m *broker.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.epoch == "": // first message of a topic a pattern covers
		st.epoch, st.last = m.Epoch, m.Seq-1
	case st.epoch != m.Epoch:
		e.log.Info("topic has a new epoch", zap.String("topic", st.topic),
			zap.String("old", st.epoch), zap.String("new", m.Epoch))
		st.epoch, st.last = m.Epoch, 0
	}
	if m.Seq <= st.last {
		return
	}
	if m.Seq > st.last+1 && e.cfg.HistorySize > 0 {
		e.fillLocked(ctx, st, m.Seq-1)
	}
	e.handLocked(st, m)
}

// fillLocked hands over the messages after st.last up to seq upto that the
// stream of st's epoch still holds. st.mu must be held.
func (e *Engine) fillLocked(ctx context.Context, st *topicState, upto uint64) {
	res, err := e.read(ctx, st.topic, "", st.last, -1, upto)
	if err != nil {
		e.log.Warn("cannot fill a gap from history", zap.String("topic", st.topic), zap.Error(err))
		return
	}
	if res.Epoch != st.epoch {
		return // the stream holds another epoch now
	}
	e.handAllLocked(st, res.Messages)
	if st.last < upto {
		e.log.Warn("messages lost: no longer in history", zap.String("topic", st.topic),
			zap.Uint64("from", st.last+1), zap.Uint64("to", upto))
	}
}

func (e *Engine) handAllLocked(st *topicState, ms []*broker.Message) {
	for _, m := range ms {
		if m.Seq > st.last {
			e.handLocked(st, m)
		}
	}
}

func (e *Engine) handLocked(st *topicState, m *broker.Message) {
	st.last = m.Seq
	st.touch()
	if b := e.handler.Load(); b != nil {
		b.h.HandleMessage(m)
	}
}

// checkBatch is how many topics' positions one pipelined round trip reads.
const checkBatch = 256

// checkAll compares every tracked topic's position in Redis with the last
// seq delivered, and delivers what pub/sub did not. Positions are read in
// pipelined batches; only topics found behind are read one by one. It stops
// when Redis cannot answer.
func (e *Engine) checkAll(ctx context.Context) {
	states := e.subs.states(e.cfg.HistoryTTL)
	for len(states) > 0 {
		n := min(len(states), checkBatch)
		behind, err := e.behind(ctx, states[:n])
		if err != nil {
			e.log.Debug("cannot check positions now", zap.Error(err))
			return
		}
		for _, st := range behind {
			if err := e.check(ctx, st); err != nil {
				e.log.Debug("cannot check a topic now", zap.String("topic", st.topic), zap.Error(err))
				return
			}
		}
		states = states[n:]
	}
}

// behind returns the topics among states whose position in Redis is past
// the last seq delivered, or in another epoch.
func (e *Engine) behind(ctx context.Context, states []*topicState) ([]*topicState, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	pipe := e.rdb.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(states))
	for i, st := range states {
		cmds[i] = pipe.HMGet(ctx, e.keys.meta(st.topic), "epoch", "seq")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, e.fail("check", err)
	}
	var out []*topicState
	for i, st := range states {
		v := cmds[i].Val()
		epoch, _ := v[0].(string)
		seqText, _ := v[1].(string)
		seq, _ := strconv.ParseUint(seqText, 10, 64)
		if epoch != "" && st.isBehind(epoch, seq) {
			out = append(out, st)
		}
	}
	return out, nil
}

// check delivers the messages of st's topic that history holds after the
// last one handed over; a topic with a new epoch is delivered from its start.
func (e *Engine) check(ctx context.Context, st *topicState) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.epoch == "" {
		return nil
	}
	res, err := e.read(ctx, st.topic, "", st.last, -1, 0)
	if err != nil || res.Epoch == "" {
		return err
	}
	if res.Epoch != st.epoch {
		e.log.Info("topic has a new epoch", zap.String("topic", st.topic),
			zap.String("old", st.epoch), zap.String("new", res.Epoch))
		st.epoch, st.last = res.Epoch, 0
		if res, err = e.read(ctx, st.topic, "", 0, -1, 0); err != nil || res.Epoch != st.epoch {
			return err
		}
	}
	e.handAllLocked(st, res.Messages)
	return nil
}
