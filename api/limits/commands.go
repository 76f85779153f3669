package limits

import (
	"math"
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

// refill is how long an address's command budget takes to fill again
// at most, unused: its bucket holds a burst, and what it owes (also a
// burst at most) is paid after.
func (p *commandPace) refill() time.Duration { return time.Duration(2 * p.burst) }

// commandsFull reports whether the command budget of e's address is full
// at now and it owes nothing: forgetting it loses nothing.
func (e *entry) commandsFull(now int64) bool {
	return e.pace == nil || e.owed.Load() == 0 && e.commands.Load() <= now
}

// AllowCommand implements broker.AddressPacer for the address of e, once
// what it owes (SpendCommands) is paid. A clock that went back by more
// than the burst leaves the bucket empty from now, rather than shut for
// as long as the clock went back.
func (e *entry) AllowCommand(now int64) bool {
	p := e.pace
	if p == nil { // no CommandRate: e is a pacer for its other budgets
		return true
	}
	for {
		tat := e.commands.Load()
		from := min(max(tat, now), now+p.burst)
		if e.payOwed(tat, from, now) {
			continue
		}
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

var (
	_ broker.AddressSpender = (*entry)(nil)
	_ broker.AddressGauge   = (*entry)(nil)
)

// SpendCommands implements broker.AddressSpender: it takes n commands at
// once from the budget of e's address, those of a resume that sent much
// history (broker.ResumeCommandBytes). What the bucket does not hold is
// owed, one burst at most, and paid before any command is allowed again:
// the bucket itself never holds more than its burst, so that a clock
// that went back shuts it for no longer than that. Forgiving it instead
// let an address that kept its budget empty have every resume for one
// command: taking each command the budget allowed as a resume of 16, it
// had 999 of them in 10 s at 100 commands a second, where the rate
// holds 62 (TestCommandsTakenFromAnEmptyBudgetAreOwed).
func (e *entry) SpendCommands(now int64, n int) {
	p := e.pace
	if p == nil {
		return
	}
	for {
		tat := e.commands.Load()
		from := min(max(tat, now), now+p.burst) // as AllowCommand reads it
		next := from + int64(n)*p.interval
		full := min(next, now+p.burst)
		if full != tat && !e.commands.CompareAndSwap(tat, full) {
			continue
		}
		if over := next - full; over > 0 {
			e.owe(over)
		}
		return
	}
}

// GiveBackCommands implements broker.AddressSpender: it gives back n
// commands that SpendCommands took for work that did not run (a
// subscribe's presence join, say, that failed), what the address owes
// first, then its bucket's, which never holds more than its burst.
func (e *entry) GiveBackCommands(now int64, n int) {
	p := e.pace
	if p == nil || n <= 0 {
		return
	}
	d := int64(n) * p.interval
	for d > 0 {
		o := e.owed.Load()
		if o <= 0 {
			break
		}
		if back := min(o, d); e.owed.CompareAndSwap(o, o-back) {
			d -= back
		}
	}
	for d > 0 {
		tat := e.commands.Load()
		if tat <= now { // full
			return
		}
		if e.commands.CompareAndSwap(tat, max(tat-d, now)) {
			return
		}
	}
}

// HoldsCommands implements broker.AddressGauge: it reports whether the
// budget of e's address holds n commands at now, what it owes paid
// first, as AllowCommand would let them through one after another,
// taking nothing.
func (e *entry) HoldsCommands(now int64, n int) bool {
	p := e.pace
	if p == nil {
		return true
	}
	from := min(max(e.commands.Load(), now), now+p.burst) // as AllowCommand reads it
	return from+e.owed.Load()+int64(n)*p.interval-now <= p.burst
}

// CommandBurst implements broker.AddressGauge: the most commands the
// budget of e's address holds.
func (e *entry) CommandBurst() int {
	if e.pace == nil {
		return math.MaxInt
	}
	return int(e.pace.burst / e.pace.interval)
}

// owe adds d nanoseconds of commands to what e's address owes, up to
// its burst's.
func (e *entry) owe(d int64) {
	for {
		o := e.owed.Load()
		if e.owed.CompareAndSwap(o, min(o+d, e.pace.burst)) {
			return
		}
	}
}

// payOwed moves what e's address owes into its bucket, as much as the
// bucket, whose time to be full again is tat (from as of now), holds,
// and reports whether the caller is to read the bucket again (it moved
// some, or lost the debt to another caller). Losing the bucket to another caller
// after taking the debt forgives that much, which is rare and small.
func (e *entry) payOwed(tat, from, now int64) bool {
	o := e.owed.Load()
	if o <= 0 {
		return false
	}
	pay := min(o, now+e.pace.burst-from)
	if pay <= 0 {
		return false
	}
	if e.owed.CompareAndSwap(o, o-pay) {
		e.commands.CompareAndSwap(tat, from+pay)
	}
	return true // read both again
}

// commandBudget is what an entry keeps of the command budget; the zero
// value (pace nil) is none.
type commandBudget struct {
	pace     *commandPace // the limiter's, shared by every entry
	commands atomic.Int64 // when the bucket would be full again, Unix nanoseconds
	owed     atomic.Int64 // nanoseconds of commands taken past an empty bucket (SpendCommands)
}

// pacerOf is e as its connections' pacer: its command budget, its
// AddressQueue (transport.AddressQueuer), its subscriptions
// (broker.AddressSubscriptions) and its AddressReads
// (transport.AddressReader); nil when it has none of them. Without a
// CommandRate it allows every command.
func (l *ConnLimiter) pacerOf(e *entry) broker.AddressPacer {
	if e == nil || !l.perConnection() {
		return nil
	}
	return e
}

// AcquirePaced is Acquire, with the connection's place as a Slot (nil
// when nothing was counted that is to be given back), and also returns
// the command budget of ip's address (and its other budgets: pacerOf),
// which the caller hands to the connection; nil when it has none. The
// budget is kept while the address holds a connection, and after its
// last until it is full again (see ConnLimiter).
func (l *ConnLimiter) AcquirePaced(ip netip.Addr) (slot *Slot, pacer broker.AddressPacer, ok bool) {
	e, ok := l.take(ip, takeOpen|takeRate)
	if slot, ok = slotOf(e, ok); !ok {
		return nil, nil, false
	}
	return slot, l.pacerOf(e), true
}

// Pacer is the command budget of the address c was counted for at
// accept; nil when c is nil, was not counted per address (a trusted
// proxy's), has given its slot back, or the limiter has none of the
// budgets of pacerOf.
// The budget lasts as long as c's slot is held: an upgrade asks before
// its hijack takes the slot over.
func (c *Conn) Pacer() broker.AddressPacer {
	if c == nil {
		return nil
	}
	s := c.slot.Load()
	if s == nil {
		return nil
	}
	e := s.perAddress.Load()
	if e == nil {
		return nil
	}
	return e.limiter.pacerOf(e)
}
