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

// paceVerdict is whether a command or ping may run, and if not, which
// rate refused it.
type paceVerdict uint8

const (
	paceAllowed         paceVerdict = iota
	refusedByConnection             // its connection's rate (Config.RateLimit)
	refusedByAddress                // its client address's budget (AddressPacer)
	paceVerdicts                    // how many there are
)

// pace reports whether a command may run at now (Unix nanoseconds), and
// takes it from both budgets if so: its connection's, rate commands per
// second in bursts of RateBurst(rate) (rate <= 0 allows everything), then
// address's (nil: none). A command its
// connection's rate refuses spends nothing of its address's budget, so
// that one connection sending faster than its own rate does not spend
// the budget of the others; one the address refuses spends nothing of
// its connection's.
func (l *rateLimiter) pace(now int64, rate int, address AddressPacer) paceVerdict {
	r := NewRate(rate, RateBurst(rate))
	if r.Budget(l.bucket, now) < 1 {
		return refusedByConnection
	}
	if address != nil && !address.AllowCommand(now) {
		return refusedByAddress
	}
	r.Spend(&l.bucket, now, 1)
	return paceAllowed
}

// paceLocked paces one command or ping of s at now, counting a refusal.
// Called with mu held.
func (s *Session) paceLocked(now int64) paceVerdict {
	v := s.limiter.pace(now, s.b.cfg.RateLimit, s.pacer)
	if v != paceAllowed {
		s.b.stats.rateLimited[v].Add(1)
	}
	return v
}

// rateLimitedError is what a command refused by v is answered.
func (s *Session) rateLimitedError(v paceVerdict) *Error {
	if v == refusedByAddress {
		return addressRateLimited()
	}
	return Errorf(CodeRateLimited, "more than %d commands a second", s.b.cfg.RateLimit)
}

// addressRateLimited is what is refused by its address's budget is answered.
func addressRateLimited() *Error {
	return Errorf(CodeRateLimited, "too many commands a second from this address")
}

// paceStream takes one command from address's budget (nil: none) for
// each of a stream's topics as it opens, as a subscribe of each would
// over WebSocket: its topics are subscribed as it opens, and one address
// opening 50 streams of 32 new topics a second (its connection rate)
// cost the node 16 % of its two cores and Redis 17 % of one, outside the
// budget, which bounds the rest of what the address costs (docs/protocol.md
// section 6). It takes too each topic's work as a client's subscribe
// counts it as it comes (subscribeWork), and returns what each topic was
// counted, for its setup to count it no more (nil: nothing): counted once
// set up, the streams of one address opened together were each let
// through by a budget that held one command a topic, and what they
// counted after, past the one burst an address may owe, was forgiven (20
// streams of 30 presence topics opened at once had 270 topics through on
// a burst of 300, which holds 100). Past the budget the stream is refused
// rate_limited (429), and what it took is given back: nothing of it runs.
func (b *Broker) paceStream(address AddressPacer, user string, topics []string) ([]*prepaid, *Error) {
	paid := make([]*prepaid, len(topics))
	if address == nil {
		return paid, nil
	}
	spender, spends := address.(AddressSpender)
	now := time.Now().UnixNano()
	taken := 0
	for i, topic := range topics {
		n := 1
		if spends { // as chargeAddress: extra work is counted only by a spender
			work, p := b.subscribeWork(topic, user, now, true)
			paid[i] = p
			n += work
		}
		for range n {
			if !address.AllowCommand(now) {
				b.stats.rateLimited[refusedByAddress].Add(1)
				for j := range paid[:i+1] {
					if paid[j].take(markPaidOccupancy) != 0 {
						b.remote.dropClaim(topics[j], paid[j].claimedAt)
					}
				}
				if spends && taken > 0 {
					spender.GiveBackCommands(now, taken)
				}
				return nil, addressRateLimited()
			}
			taken++
		}
	}
	return paid, nil
}
