package broker

import (
	"math"
	"time"
)

// Rate is a token bucket's refill and size, kept as a GCRA: a Bucket is
// one number, the time at which it would be full again, and no timer
// runs. The broker limits a session's commands by it, and the transport
// paces how fast it reads them (transport/pace.go). Times are nanoseconds
// of whatever clock the caller keeps its Bucket in. The zero Rate limits
// nothing.
type Rate struct {
	interval int64 // nanoseconds one token is worth
	burst    int64 // nanoseconds of tokens the bucket holds
}

// NewRate is perSecond tokens a second in a bucket of burst; perSecond
// <= 0 (or more than one a nanosecond) limits nothing.
func NewRate(perSecond, burst int) Rate {
	if perSecond <= 0 || perSecond > int(time.Second) {
		return Rate{}
	}
	interval := int64(time.Second) / int64(perSecond)
	return Rate{interval: interval, burst: int64(burst) * interval}
}

// Bucket is one user's state of a Rate: the time at which it would be
// full again. The zero Bucket is full.
type Bucket struct{ tat int64 }

// Budget is how many tokens b holds at now; math.MaxInt for the zero Rate.
func (r Rate) Budget(b Bucket, now int64) int {
	if r.interval == 0 {
		return math.MaxInt
	}
	room := r.burst - (max(b.tat, now) - now)
	return int(max(room/r.interval, 0))
}

// Spend takes n tokens from b at now.
func (r Rate) Spend(b *Bucket, now int64, n int) {
	if r.interval != 0 && n > 0 {
		b.tat = max(b.tat, now) + int64(n)*r.interval
	}
}

// ResumeAt is when b holds a token again.
func (r Rate) ResumeAt(b Bucket) int64 { return b.tat + r.interval - r.burst }

// Full says whether b holds its whole burst at now: a bucket in that
// state need not be kept.
func (b Bucket) Full(now int64) bool { return b.tat <= now }

// RateBurst is how many commands a session may send at once at rate
// commands a second (docs/protocol.md section 6): the transport paces its
// reads by it too.
func RateBurst(rate int) int { return 2 * rate }

// rateLimiter is a session's bucket of commands.
type rateLimiter struct{ bucket Bucket }

// allow reports whether a command may run at now (Unix nanoseconds),
// given rate commands per second and a burst of RateBurst(rate), and
// takes its token if so. rate <= 0 allows everything.
func (l *rateLimiter) allow(now int64, rate int) bool {
	r := NewRate(rate, RateBurst(rate))
	if r.Budget(l.bucket, now) < 1 {
		return false
	}
	r.Spend(&l.bucket, now, 1)
	return true
}
