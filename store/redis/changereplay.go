package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

const (
	// replayBatch is how many topics' change logs one pipelined round
	// trip reads.
	replayBatch = 64
	// replayCount is how many entries one read takes of a topic's log, so
	// that a round trip's reply stays under replayBatch*replayCount
	// entries (about 6 MB at the largest info, far less as a rule).
	replayCount = 100
	// replayRounds bounds the rounds of one replay: enough to read a full
	// log in replayCount steps, and twice more for the changes pub/sub
	// brought meanwhile. What is left is read at the next check.
	replayRounds = changeLogCap/replayCount + 2
)

// replayChanges hands over, in order, what the change logs hold past the
// marks that fell behind (changemarks.go), in rounds of pipelined reads
// until none is behind. It reports whether none is; the rest waits for
// the next call (Redis did not answer, or the logs outgrew the rounds).
// Only the supervisor calls it.
func (e *Engine) replayChanges(ctx context.Context) bool {
	handed := 0
	defer func() {
		if handed > 0 {
			e.marks.replayed.Add(uint64(handed))
			e.log.Info("handed over joins and leaves the pub/sub connection missed", zap.Int("count", handed))
		}
	}()
	for range replayRounds {
		marks := e.behindMarks()
		if len(marks) == 0 {
			return true
		}
		for len(marks) > 0 {
			n := min(len(marks), replayBatch)
			h, err := e.replayBatch(ctx, marks[:n])
			handed += h
			if err != nil {
				e.log.Debug("cannot read the presence change logs now", zap.Error(err))
				return false
			}
			marks = marks[n:]
		}
	}
	return len(e.behindMarks()) == 0
}

// replayBatch reads the log of each of marks from its mark on, the
// mark's own entry included, in one pipeline (go-redis splits it by
// slot on Cluster), hands over what follows the mark, and returns how
// many changes that was.
func (e *Engine) replayBatch(ctx context.Context, marks []*changeMark) (int, error) {
	from := make([]markRead, len(marks))
	for i, m := range marks {
		m.mu.Lock()
		from[i] = markRead{from: m.last, ahead: m.ahead}
		m.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	pipe := e.rdb.Pipeline()
	cmds := make([]*goredis.XMessageSliceCmd, len(marks))
	for i, m := range marks {
		cmds[i] = pipe.XRangeN(ctx, e.keys.presChanges(m.topic), from[i].from, "+", replayCount)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		e.stats.failed(err)
		return 0, fmt.Errorf("herald/redis: read change logs: %w", err)
	}
	handed := 0
	for i, m := range marks {
		handed += e.replayMark(m, from[i], cmds[i].Val())
	}
	return handed, nil
}

// markRead is what a mark was as its log was read: the ID the read
// started from, and the change pub/sub had brought past it then, if any.
type markRead struct {
	from, ahead string
}

// replayMark hands over the entries of m's log read from r.from on that
// come after m's mark, in order. A chain that breaks (the log was trimmed
// past the mark, or lost it in a failover) is reported, and the changes
// the log still holds are handed over all the same: subscribers that keep
// a member list are less wrong with them than without. It returns how
// many changes it handed over.
func (e *Engine) replayMark(m *changeMark, r markRead, read []goredis.XMessage) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone {
		return 0
	}
	if len(read) == 0 && m.phase == linked && m.last == r.from && r.from != noChange {
		// Neither the mark nor anything after it: the log went back (a
		// failover lost its tail) or is gone. Whatever comes next starts
		// the chain again. A change pub/sub brought before the read is
		// lost with the rest, and counted with it.
		e.changesLost(m, "")
		m.phase = unlinked
		if m.ahead == r.ahead {
			m.ahead = ""
		}
		r.ahead = ""
	}
	handed := 0
	for _, msg := range read {
		lc, err := parseLogEntry(m.topic, msg.ID, msg.Values)
		if err != nil {
			e.log.Error("skipped a malformed presence change log entry", zap.Error(err))
			if m.last == "" || idAfter(msg.ID, m.last) { // its change is lost; the chain goes on past it
				e.changesLost(m, msg.ID)
				m.phase, m.last = linked, msg.ID
			}
			continue
		}
		if m.last != "" && !idAfter(lc.link.id, m.last) {
			continue // the mark itself, or handed over since the read
		}
		if m.phase == linked && lc.link.prev != m.last {
			e.changesLost(m, lc.link.id)
		}
		e.handChangeLocked(m, lc.change, lc.link.id)
		handed++
	}
	e.settleLocked(m, r, len(read) == replayCount)
	return handed
}

// settleLocked says, once m's log was read (more: up to the read's
// bound), whether m is still behind. A change pub/sub brought before the
// read (r.ahead) that the read found neither itself nor anything past,
// the log lost after pub/sub delivered it (a failover): read again, the
// log would never hold it. It is counted, and the next change starts the
// chain again. A change pub/sub brought during the read may not be in
// it: the log is read again.
func (e *Engine) settleLocked(m *changeMark, r markRead, more bool) {
	switch {
	case more:
		m.behind = true
	case r.ahead != "" && idAfter(r.ahead, m.last):
		e.changesLost(m, r.ahead)
		m.phase = unlinked
		if m.ahead == r.ahead {
			m.ahead = ""
		}
		m.behind = m.ahead != "" // a later one came during the read
	case m.ahead != "" && idAfter(m.ahead, m.last):
		m.behind = true
	default:
		m.ahead, m.behind = "", false
	}
}

// changesLost reports that changes of m's topic after m.last may have
// been missed for good, before the change next ("": none yet).
func (e *Engine) changesLost(m *changeMark, next string) {
	e.stats.presenceGaps.Add(1)
	e.log.Warn("presence changes may have been lost: the change log no longer holds where this node stood",
		zap.String("topic", m.topic), zap.String("after", m.last), zap.String("next", next))
}
