package broker

import "time"

// rateLimiter is a token bucket kept as one number (GCRA): the time at which
// the bucket would be full again. No timer runs; a command spends the
// interval of one token.
type rateLimiter struct {
	tat int64 // theoretical arrival time, Unix nanoseconds
}

// RateBurst is how many commands a session may send at once at rate
// commands a second (docs/protocol.md section 6): the transport paces its
// reads by it too.
func RateBurst(rate int) int { return 2 * rate }

// allow reports whether a command may run at now, given rate commands per
// second and a burst of RateBurst(rate). rate <= 0 allows everything.
func (l *rateLimiter) allow(now int64, rate int) bool {
	if rate <= 0 {
		return true
	}
	interval := int64(time.Second) / int64(rate)
	burst := int64(RateBurst(rate)) * interval
	tat := max(l.tat, now)
	if tat+interval-now > burst {
		return false
	}
	l.tat = tat + interval
	return true
}
