package limits

import (
	"net/netip"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

func mustAcquirePaced(t *testing.T, l *ConnLimiter, ip netip.Addr) (func(), broker.AddressPacer) {
	t.Helper()
	slot, pacer, ok := l.AcquirePaced(ip)
	if !ok {
		t.Fatalf("AcquirePaced(%v) refused", ip)
	}
	return slot.Release, pacer
}

// allowed counts how many of n commands p lets through at now.
func allowed(p broker.AddressPacer, now int64, n int) int {
	k := 0
	for range n {
		if p.AllowCommand(now) {
			k++
		}
	}
	return k
}

// The connections of one address share one budget: its burst at once,
// then its rate; another address has its own, and an IPv6 /64 is one.
func TestCommandBudgetIsPerAddress(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 30})
	now := clock.Now().UnixNano()
	_, a1 := mustAcquirePaced(t, l, ipA)
	_, a2 := mustAcquirePaced(t, l, ipA)
	if got := allowed(a1, now, 20) + allowed(a2, now, 20); got != 30 {
		t.Fatalf("two connections of one address were allowed %d commands at once, want the burst of 30", got)
	}
	if a1.AllowCommand(now) || a2.AllowCommand(now) {
		t.Fatal("a command allowed past the burst")
	}
	now += int64(time.Second)
	if got := allowed(a2, now, 20); got != 10 {
		t.Fatalf("a second later %d commands allowed, want the rate's 10", got)
	}
	_, b := mustAcquirePaced(t, l, ipB)
	if got := allowed(b, now, 40); got != 30 {
		t.Fatalf("another address was allowed %d commands, want its own burst of 30", got)
	}
	_, v6a := mustAcquirePaced(t, l, netip.MustParseAddr("2001:db8:1:2::a"))
	_, v6b := mustAcquirePaced(t, l, netip.MustParseAddr("2001:db8:1:2::b"))
	if got := allowed(v6a, now, 20) + allowed(v6b, now, 20); got != 30 {
		t.Fatalf("two addresses of one /64 were allowed %d commands, want one burst of 30", got)
	}
}

// A clock that goes back leaves the budget empty for at most the time its
// burst takes to fill, not for as long as the clock went back.
func TestCommandBudgetSurvivesAClockGoingBack(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 20})
	now := clock.Now().UnixNano()
	_, p := mustAcquirePaced(t, l, ipA)
	allowed(p, now, 20)
	now -= int64(time.Hour)
	if p.AllowCommand(now) {
		t.Fatal("a command allowed at once after the clock went back")
	}
	if got := allowed(p, now+int64(2*time.Second), 40); got != 20 {
		t.Fatalf("a burst's time after the clock went back, %d commands allowed, want 20", got)
	}
}

// With a CommandRate and no other limit, an address is remembered while
// it holds a connection (the count keeps its budget) and forgotten with
// its last; without one there is no budget and nothing is remembered.
func TestCommandBudgetIsFreedWithTheLastConnection(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{CommandRate: 10})
	if !l.Enabled() {
		t.Fatal("a limiter with only a CommandRate is not enabled")
	}
	r1, p1 := mustAcquirePaced(t, l, ipA)
	r2, p2 := mustAcquirePaced(t, l, ipA)
	if p1 == nil || p1 != p2 || l.Tracked() != 1 {
		t.Fatalf("pacers %v and %v, %d addresses tracked: want one shared budget", p1, p2, l.Tracked())
	}
	r1()
	if l.Tracked() != 1 {
		t.Fatal("the address was forgotten while it holds a connection")
	}
	r2()
	if l.Tracked() != 0 {
		t.Fatalf("%d addresses tracked after the last connection closed", l.Tracked())
	}

	off, _ := newLimiter(t, ConnConfig{MaxOpen: 5})
	release, pacer := mustAcquirePaced(t, off, ipA)
	defer release()
	if pacer != nil {
		t.Fatal("a budget without a CommandRate")
	}
}

// An address whose last connection closes while its command budget is
// spent, or owes commands (a resume's, a close's unsubscribes), is
// remembered with them until they are paid: its next connection finds
// the budget as the last one left it, not full. Once the budget has had
// time to fill, the address is forgotten.
func TestCommandBudgetOutlivesTheLastConnection(t *testing.T) {
	for _, connectRate := range []float64{0, 50} {
		l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 30, Rate: connectRate, Burst: 500})
		now := clock.Now().UnixNano()
		release, p := mustAcquirePaced(t, l, ipA)
		allowed(p, now, 30)
		p.(broker.AddressSpender).SpendCommands(now, 20)
		clock.Advance(time.Second) // the connect bucket full again, the command budget not
		release()
		now = clock.Now().UnixNano()
		_, again := mustAcquirePaced(t, l, ipA)
		if got := allowed(again, now, 40); got != 0 {
			t.Errorf("connect rate %v: the next connection of an address that spent its budget and owed 20 commands was allowed %d at once, want none",
				connectRate, got)
		}

		l, clock = newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 30, Rate: connectRate, Burst: 500})
		release, p = mustAcquirePaced(t, l, ipA)
		p.(broker.AddressSpender).SpendCommands(clock.Now().UnixNano(), 50)
		release()
		if l.Tracked() != 1 {
			t.Errorf("connect rate %v: an address that owes commands was forgotten with its last connection", connectRate)
		}
		clock.Advance(10 * time.Second) // a burst's time to pay, another to fill; the connect bucket's 10 s
		_, other := mustAcquirePaced(t, l, ipB)
		if other == nil || l.Tracked() != 1 {
			t.Errorf("connect rate %v: %d addresses tracked once the idle one's budget had time to fill, want only the new one",
				connectRate, l.Tracked())
		}
	}
}

func TestCommandBudgetSettingsAreChecked(t *testing.T) {
	for _, cfg := range []ConnConfig{{CommandRate: -1}, {CommandRate: 10, CommandBurst: -1}, {CommandRate: int(time.Second) + 1}} {
		if _, err := NewConnLimiter(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	l, clock := newLimiter(t, ConnConfig{CommandRate: 7})
	_, p := mustAcquirePaced(t, l, ipA)
	if got := allowed(p, clock.Now().UnixNano(), 20); got != 7 {
		t.Errorf("a burst of %d by default, want the rate, 7", got)
	}
}

// A burst whose time at the rate does not fit the bucket's clock (Unix
// nanoseconds) is refused as a setting, rather than overflowing into a
// bucket that refuses every command.
func TestCommandBurstPastTheClockIsRefused(t *testing.T) {
	if _, err := NewConnLimiter(ConnConfig{CommandRate: 1, CommandBurst: 1 << 40}); err == nil {
		t.Fatal("a burst of 2^40 commands at one a second accepted")
	}
	l, clock := newLimiter(t, ConnConfig{CommandRate: 1, CommandBurst: maxCommandBurst})
	_, p := mustAcquirePaced(t, l, ipA)
	if !p.AllowCommand(clock.Now().UnixNano()) {
		t.Fatal("the largest burst allowed refuses the first command")
	}
}

// Commands taken at once (a resume's, broker.AddressSpender) leave that
// many fewer in the address's budget; past empty they are owed, one
// burst at most, and paid before the rate lets any command through.
func TestCommandBudgetSpentAtOnce(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 30})
	now := clock.Now().UnixNano()
	_, p := mustAcquirePaced(t, l, ipA)
	spender, ok := p.(broker.AddressSpender)
	if !ok {
		t.Fatal("the address's budget cannot take commands at once")
	}
	spender.SpendCommands(now, 12)
	if got := allowed(p, now, 40); got != 18 {
		t.Fatalf("%d commands allowed after 12 taken at once, want 18", got)
	}
	spender.SpendCommands(now, 1000)
	now += int64(time.Second)
	if got := allowed(p, now, 40); got != 0 {
		t.Fatalf("a second after taking more than the burst from an empty budget %d commands allowed, want none", got)
	}
	now += int64(3 * time.Second)
	if got := allowed(p, now, 40); got != 10 {
		t.Fatalf("once the burst owed is paid %d commands allowed in a second, want the rate's 10", got)
	}
}

// Commands taken at once while the address's budget is already empty
// are owed, not forgiven: resumes that each count as 16 commands, sent
// by many connections of the address as fast as the budget lets any
// command through, get a sixteenth of its rate, as the rest of its
// commands, rather than one resume per command.
func TestCommandsTakenFromAnEmptyBudgetAreOwed(t *testing.T) {
	const rate, burst, resume = 100, 200, 16
	l, clock := newLimiter(t, ConnConfig{CommandRate: rate, CommandBurst: burst})
	now := clock.Now().UnixNano()
	_, p := mustAcquirePaced(t, l, ipA)
	spender := p.(broker.AddressSpender)
	allowed(p, now, burst)
	resumes := 0
	step := int64(time.Second) / rate / 4
	for end := now + 10*int64(time.Second); now < end; now += step {
		if p.AllowCommand(now) {
			resumes++
			spender.SpendCommands(now, resume-1)
		}
	}
	if want := 10 * rate / resume; resumes > want+burst/resume+1 {
		t.Fatalf("%d resumes of %d commands each in 10 s from an empty budget of %d a second, want about %d", resumes, resume, rate, want)
	}
}

// Commands taken at once after the clock went back are owed from the
// bucket as AllowCommand reads it, empty from now: what the clock went
// back by is not owed with them.
func TestCommandsTakenAfterAClockGoingBackOweOnlyThemselves(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 20})
	now := clock.Now().UnixNano()
	_, p := mustAcquirePaced(t, l, ipA)
	allowed(p, now, 20)
	now -= int64(time.Hour)
	p.(broker.AddressSpender).SpendCommands(now, 1)
	if got := allowed(p, now+int64(2*time.Second), 40); got != 19 {
		t.Fatalf("a burst's time after the clock went back and one command was taken at once, %d commands allowed, want 19", got)
	}
}

// Commands given back (broker.AddressSpender: work a subscribe was
// counted that did not run) pay what the address owes first, then
// refill its budget, never past its burst.
func TestCommandsGivenBack(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{CommandRate: 10, CommandBurst: 30})
	now := clock.Now().UnixNano()
	_, p := mustAcquirePaced(t, l, ipA)
	spender := p.(broker.AddressSpender)
	spender.SpendCommands(now, 35) // 5 owed
	spender.GiveBackCommands(now, 8)
	if got := allowed(p, now, 40); got != 3 {
		t.Fatalf("%d commands allowed after 35 taken and 8 given back, want 3", got)
	}
	spender.GiveBackCommands(now, 1000)
	if got := allowed(p, now, 40); got != 30 {
		t.Fatalf("%d commands allowed after more given back than taken, want the burst of 30", got)
	}
}
