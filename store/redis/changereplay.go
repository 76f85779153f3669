package redis

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

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
// A log Redis fails to read is left for the next call and the others
// are read on, unless a round trip timed out: with one Redis, Redis is
// away, and every other would wait as long; on Cluster only the logs of
// that master are left (see masters.go), as are those of the masters of
// r.away from the start. The error is a probe's (replayBatch): a pub/sub
// connection broke. The supervisor runs one at a time, beside its other
// work (watcher.replay).
func (e *Engine) replayChanges(ctx context.Context, r round) (bool, error) {
	handed := 0
	failed := make(map[*changeMark]bool) // their reads failed: left for the next call
	gone := make(away)
	gone.merge(r.away)
	var lastErr error
	defer func() {
		if handed > 0 {
			e.marks.replayed.Add(uint64(handed))
			e.log.Info("handed over joins and leaves the pub/sub connection missed", zap.Int("count", handed))
		}
		e.noteReplay(len(failed), lastErr)
	}()
	for range replayRounds {
		marks := slices.DeleteFunc(e.behindMarks(), func(m *changeMark) bool { return failed[m] })
		if len(marks) == 0 {
			break
		}
		for len(marks) > 0 {
			n := min(len(marks), replayBatch)
			res := e.replayBatch(ctx, marks[:n], failed, gone, r.classic)
			handed += res.handed
			if res.failure != nil {
				lastErr = res.failure
			}
			if res.conn != nil {
				return false, res.conn
			}
			if res.away || ctx.Err() != nil {
				for _, m := range marks {
					failed[m] = true
				}
				return false, nil
			}
			marks = marks[n:]
		}
	}
	return len(failed) == 0 && len(e.behindMarks()) == 0, nil
}

// replayTrouble is since when replays have left logs unread because Redis
// failed to read them, so that a failure that lasts is logged once. Only
// replayChanges touches it, of which one runs at a time.
type replayTrouble struct {
	since  time.Time // zero: the last replay read every log it tried
	warned bool
}

// noteReplay logs, once, that replays keep failing to read failed logs
// (lastErr: the last failure) for a check interval, and that they read
// again once they do.
func (e *Engine) noteReplay(failed int, lastErr error) {
	t := &e.marks.trouble
	switch {
	case failed == 0:
		if t.warned {
			e.log.Info("presence change logs are read again")
		}
		*t = replayTrouble{}
	case t.since.IsZero():
		t.since = time.Now()
		e.log.Debug("cannot read presence change logs now", zap.Int("topics", failed), zap.Error(lastErr))
	case !t.warned && time.Since(t.since) >= e.cfg.CheckInterval:
		t.warned = true
		e.log.Warn("cannot read presence change logs: the joins and leaves of their topics that this node missed wait",
			zap.Int("topics", failed), zap.Duration("for", time.Since(t.since)), zap.Error(lastErr))
	}
}

// timedOut reports an error of a call that waited out its time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// markRead is what a mark was as its log was read: the ID the read
// started from, and the change pub/sub had brought past it then, if any;
// what the read found at the log's end key: the ID of the last change of
// a log that went with its topic's last entry ("": none); and the ID of
// the log's last entry just before the read (noChange: it had none).
type markRead struct {
	from, ahead string
	end, tail   string
	breaks      uint64 // the pub/sub breaks counted before the read (changeMarks.breaks)
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
	if m.gone.Load() {
		return 0
	}
	// Neither the mark nor anything after it, and the log did not go
	// right after the mark; a mark at noChange reads nothing from a topic
	// that never had a log, and is not past one.
	if len(read) == 0 && m.last == r.from && r.end != m.last && (r.from != noChange || r.end != "") {
		e.logGoneLocked(m, r)
		if m.ahead == r.ahead { // lost with the rest, and counted with it
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

// logGoneLocked takes m past a log that holds neither m's mark nor
// anything after it, as r found it. When the log went with its topic's
// last entry after changes m did not hand over, the next log goes on
// from r.end, the last of them. When the log went back (a failover lost
// its tail) or went long ago (r.end is ""), m goes on from r.tail, where
// the log ended just before the read, even when that is behind m's mark
// (a log that starts anew takes its IDs from Redis's clock): the log's
// entries up to there are older than the changes lost, or among them,
// and those after it are read from there when pub/sub misses them. Left
// without a place, m would read nothing after a reconnect, and what was
// published while pub/sub was down would be lost, uncounted. Either way
// changes were lost, unless the chain was broken already.
func (e *Engine) logGoneLocked(m *changeMark, r markRead) {
	if m.phase == linked {
		e.changesLost(m, "")
	}
	m.phase, m.last = linked, r.tail
	if r.end != "" {
		m.last = r.end
	}
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
		m.breaks = r.breaks
	}
}

// changesLost reports that changes of m's topic after m.last may have
// been missed for good, before the change next ("": none yet).
func (e *Engine) changesLost(m *changeMark, next string) {
	e.stats.presenceGaps.Add(1)
	e.log.Warn("presence changes may have been lost: the change log no longer holds where this node stood",
		zap.String("topic", m.topic), zap.String("after", m.last), zap.String("next", next))
}
