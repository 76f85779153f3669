package broker

import "time"

// rateLimiter is a token bucket kept as one number (GCRA): the time at which
// the bucket would be full again. No timer runs; a command spends the
// interval of one token.
type rateLimiter struct {
	tat int64 // theoretical arrival time, Unix nanoseconds
}

// allow reports whether a command may run at now, given rate commands per
// second and a burst of twice that. rate <= 0 allows everything.
func (l *rateLimiter) allow(now int64, rate int) bool {
	if rate <= 0 {
		return true
	}
	interval := int64(time.Second) / int64(rate)
	burst := 2 * int64(rate) * interval
	tat := max(l.tat, now)
	if tat+interval-now > burst {
		return false
	}
	l.tat = tat + interval
	return true
}
