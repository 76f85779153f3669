package redis

import "time"

// retryBeat is how soon a node tries again a heartbeat that failed, or a
// resync after a reconnect (resyncAfterReconnect) that failed: a
// fifteenth of the lapse (1 s by default), and no sooner than every
// 100 ms, however short a test's lapse.
func retryBeat(lapse time.Duration) time.Duration {
	return max(lapse/15, 100*time.Millisecond)
}

// health is how long the node's heartbeats have gone through in a row.
type health struct {
	since time.Time // when the first of them was sent; zero: the last failed
}

// beat records a heartbeat sent at sent that went through, or not.
func (h *health) beat(sent time.Time, ok bool) {
	switch {
	case !ok:
		h.since = time.Time{}
	case h.since.IsZero():
		h.since = sent
	}
}

// lasted reports whether the heartbeats have gone through for d by now.
// Counted from the first one as it was sent, the round d after it does
// not miss by the time a round takes.
func (h health) lasted(now time.Time, d time.Duration) bool {
	return !h.since.IsZero() && now.Sub(h.since) >= d
}

// slowestLapse is the longest lapse of the live nodes as far as this node
// knows: its own, or another's that its last heartbeat made while its
// heartbeats had gone through for the cleanup's wait read off the
// registry (noteOthers). Read only then, so that after an outage of
// Redis, when the registry shows none of the nodes that have yet to beat
// again, it still holds what it was before.
func (e *Engine) slowestLapse() time.Duration {
	return max(e.cfg.PresenceLapse, time.Duration(e.pres.othersLapse.Load()))
}

// cleanupWait is how long the node's heartbeats must have gone through
// before it cleans up after lapsed nodes: a third of the slowest lapse. Back from an outage
// of Redis, a node tries its heartbeat again every fifteenth of its own
// lapse (retryBeat), so a node of a longer lapse than this one's beats
// only later: waited for by this one's own lapse alone, a node of 300 ms
// beside one of 3 s removed the other's entries (their leaves sent,
// then their joins again) in 1 of 3 runs of
// TestMixedLapsesKeepPresenceThroughAnOutage.
func (e *Engine) cleanupWait() time.Duration { return e.slowestLapse() / 3 }

// noteOthers keeps what the last heartbeat read of the other nodes'
// lapses (see slowestLapse, longestLapse), and the change log's keep
// that follows. It is the one reading of them: the lost-join check keeps
// its records by it too (lostLeaveKeep).
func (e *Engine) noteOthers() {
	e.pres.regMu.Lock()
	left := e.pres.othersLeft
	e.pres.regMu.Unlock()
	e.pres.othersLapse.Store(int64(longestLapse(left)))
	keep := changeLogKeep(e.slowestLapse()).Milliseconds()
	if e.logKeep.Load() != any(keep) {
		e.logKeep.Store(any(keep))
	}
}
