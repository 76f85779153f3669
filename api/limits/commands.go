package limits

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// maxCommandRate is the largest CommandRate: one command a nanosecond
// would leave the bucket no interval to count in.
const maxCommandRate = int(time.Second)

// maxCommandBurst is the largest CommandBurst: at one command a second
// it is some 32 years of commands, and the bucket's clock (Unix
// nanoseconds, plus the burst's time) still fits an int64.
const maxCommandBurst = int(time.Second)

// An entry is the command budget of its address (ConnConfig.CommandRate),
// shared by every connection the address holds, as the broker's sessions
// ask for it.
var _ broker.AddressPacer = (*entry)(nil)

// commandPace is CommandRate and CommandBurst as a GCRA: an address's
// budget is one number, the time at which its bucket would be full again
// (entry.commands), moved by one compare-and-swap per command and never
// by a timer.
type commandPace struct {
	interval int64 // nanoseconds one command is worth
	burst    int64 // nanoseconds of commands the bucket holds
}

// newCommandPace is nil for rate 0 (no limit).
func newCommandPace(rate, burst int) *commandPace {
	if rate <= 0 {
		return nil
	}
	interval := int64(time.Second) / int64(rate)
	return &commandPace{interval: interval, burst: int64(max(burst, 1)) * interval}
}

// AllowCommand implements broker.AddressPacer for the address of e. A clock that went
// back by more than the burst leaves the bucket empty from now, rather
// than shut for as long as the clock went back.
func (e *entry) AllowCommand(now int64) bool {
	p := e.pace
	for {
		tat := e.commands.Load()
		from := min(max(tat, now), now+p.burst)
		if from+p.interval-now > p.burst {
			if from != tat {
				e.commands.CompareAndSwap(tat, from) // lost to another: it moved tat itself
			}
			return false
		}
		if e.commands.CompareAndSwap(tat, from+p.interval) {
			return true
		}
	}
}

var _ broker.AddressSpender = (*entry)(nil)

// SpendCommands implements broker.AddressSpender: it takes n commands at
// once from the budget of e's address, those of a resume that sent much
// history (broker.ResumeCommandBytes), emptying the bucket at most, as
// AllowCommand never lets it owe more than its burst.
func (e *entry) SpendCommands(now int64, n int) {
	p := e.pace
	for {
		tat := e.commands.Load()
		next := min(max(tat, now)+int64(n)*p.interval, now+p.burst)
		if next <= tat || e.commands.CompareAndSwap(tat, next) {
			return
		}
	}
}

// commandBudget is what an entry keeps of the command budget; the zero
// value (pace nil) is none.
type commandBudget struct {
	pace     *commandPace // the limiter's, shared by every entry
	commands atomic.Int64 // when the bucket would be full again, Unix nanoseconds
}

// pacerOf is e's command budget, nil when there is none.
func (l *ConnLimiter) pacerOf(e *entry) broker.AddressPacer {
	if e == nil || l.commands == nil {
		return nil
	}
	return e
}

// AcquirePaced is Acquire, and also returns the command budget of ip's
// address, which the caller hands to the connection; nil without a
// CommandRate. The budget is kept while the address holds a connection
// and freed with the entry after its last (see ConnLimiter).
func (l *ConnLimiter) AcquirePaced(ip netip.Addr) (release func(), pacer broker.AddressPacer, ok bool) {
	e, ok := l.take(ip, takeOpen|takeRate)
	release, ok = l.releaseOf(e, ok)
	if !ok {
		return nil, nil, false
	}
	return release, l.pacerOf(e), true
}

// Pacer is the command budget of the address c was counted for at
// accept; nil when c is nil, was not counted per address (a trusted
// proxy's), has given its slot back, or the limiter has no CommandRate.
// The budget lasts as long as c's slot is held: an upgrade asks before
// its hijack takes the slot over.
func (c *Conn) Pacer() broker.AddressPacer {
	if c == nil {
		return nil
	}
	s := c.slot.Load()
	if s == nil || s.perAddress == nil {
		return nil
	}
	return s.conns.pacerOf(s.perAddress)
}
