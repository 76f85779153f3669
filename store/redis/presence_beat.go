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
