package limits

import (
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t *testing.T, cfg ConnConfig) (*ConnLimiter, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	l, err := NewConnLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

var (
	ipA = netip.MustParseAddr("198.51.100.1")
	ipB = netip.MustParseAddr("198.51.100.2")
	ipC = netip.MustParseAddr("198.51.100.3")
)

func mustAcquire(t *testing.T, l *ConnLimiter, ip netip.Addr) func() {
	t.Helper()
	release, ok := l.Acquire(ip)
	if !ok {
		t.Fatalf("Acquire(%v) refused", ip)
	}
	return release
}

func mustRefuse(t *testing.T, l *ConnLimiter, ip netip.Addr) {
	t.Helper()
	if release, ok := l.Acquire(ip); ok || release != nil {
		t.Fatalf("Acquire(%v) admitted, want a refusal", ip)
	}
}

func TestMaxOpenPerAddress(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 2})
	r1 := mustAcquire(t, l, ipA)
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
	mustAcquire(t, l, ipB) // another address has its own count
	r1()
	r1() // a second release gives nothing back
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
}

func TestConnectRatePerAddress(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{Rate: 1, Burst: 2})
	mustAcquire(t, l, ipA)
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
	mustAcquire(t, l, ipB)
	clock.Advance(999 * time.Millisecond)
	mustRefuse(t, l, ipA)
	clock.Advance(time.Millisecond)
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
	clock.Advance(time.Hour) // the bucket holds Burst at most
	mustAcquire(t, l, ipA)
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
}

func TestBurstDefaultsToRate(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{Rate: 2.5})
	for range 3 {
		mustAcquire(t, l, ipA)
	}
	mustRefuse(t, l, ipA)
	l, _ = newLimiter(t, ConnConfig{Rate: 0.1})
	mustAcquire(t, l, ipA)
	mustRefuse(t, l, ipA)
}

func TestClosingDoesNotRefundRate(t *testing.T) {
	// A client that opens and closes at once is still opening: churn is
	// what the rate limit is for.
	l, _ := newLimiter(t, ConnConfig{Rate: 1, Burst: 1, MaxOpen: 10})
	mustAcquire(t, l, ipA)()
	mustRefuse(t, l, ipA)
}

func TestUnlimitedTracksNothing(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{})
	for range 100 {
		mustAcquire(t, l, ipA)
	}
	if n := l.Tracked(); n != 0 {
		t.Errorf("Tracked = %d with no limit set", n)
	}
}

func TestForgetsAddressesLikeStrangers(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{MaxOpen: 5, Rate: 1, Burst: 2})
	release := mustAcquire(t, l, ipA)
	if n := l.Tracked(); n != 1 {
		t.Fatalf("Tracked = %d with one open connection", n)
	}
	release()
	if n := l.Tracked(); n != 1 {
		t.Fatalf("Tracked = %d: the address was forgotten while its bucket was filling", n)
	}
	clock.Advance(2 * time.Second) // an empty bucket fills in Burst/Rate
	mustAcquire(t, l, ipB)()       // any call sweeps
	if n := l.Tracked(); n != 1 {  // ipB itself, its bucket not full
		t.Errorf("Tracked = %d, want only ipB left", n)
	}
}

func TestMaxOpenOnlyForgetsAtLastClose(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 3})
	r1 := mustAcquire(t, l, ipA)
	r2 := mustAcquire(t, l, ipA)
	r1()
	if n := l.Tracked(); n != 1 {
		t.Fatalf("Tracked = %d with a connection still open", n)
	}
	r2()
	if n := l.Tracked(); n != 0 {
		t.Errorf("Tracked = %d after the last close, with no rate", n)
	}
}

func TestFullTable(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 5, Rate: 1, Burst: 5, MaxTracked: 2})
	releaseA := mustAcquire(t, l, ipA)
	mustAcquire(t, l, ipB)
	mustRefuse(t, l, ipC) // every tracked address holds a connection
	releaseA()            // ipA is idle, its bucket not yet full
	mustAcquire(t, l, ipC)
	if n := l.Tracked(); n != 2 {
		t.Fatalf("Tracked = %d, want the cap of 2", n)
	}
	// ipA was forgotten early, so it starts again with a full burst: the
	// one leniency a full table costs. It is refused now only because
	// the table is full of open connections again.
	mustRefuse(t, l, ipA)
}

func TestIPv6PrefixIsOneAddress(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	mustAcquire(t, l, netip.MustParseAddr("2001:db8::1"))
	mustRefuse(t, l, netip.MustParseAddr("2001:db8::ffff:2"))
	mustAcquire(t, l, netip.MustParseAddr("2001:db8:0:1::1"))
	mustAcquire(t, l, netip.MustParseAddr("::ffff:198.51.100.1"))
	mustRefuse(t, l, ipA) // the mapped form above is ipA

	l, _ = newLimiter(t, ConnConfig{MaxOpen: 1, IPv6Prefix: 128})
	mustAcquire(t, l, netip.MustParseAddr("2001:db8::1"))
	mustAcquire(t, l, netip.MustParseAddr("2001:db8::2"))
}

func TestZeroAddrIsOneAddress(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	mustAcquire(t, l, netip.Addr{})
	mustRefuse(t, l, netip.Addr{})
}

func TestClockGoingBack(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{Rate: 1, Burst: 1})
	mustAcquire(t, l, ipA)
	clock.Advance(-time.Hour)
	mustRefuse(t, l, ipA)
	clock.Advance(time.Hour + time.Second)
	mustAcquire(t, l, ipA)
}

func TestNewConnLimiterRefusesNonsense(t *testing.T) {
	for _, c := range []struct {
		cfg  ConnConfig
		says string
	}{
		{ConnConfig{MaxOpen: -1}, "open connections"},
		{ConnConfig{Rate: -1}, "rate"},
		{ConnConfig{Rate: math.NaN()}, "rate"},
		{ConnConfig{Rate: math.Inf(1)}, "rate"},
		{ConnConfig{Rate: 1, Burst: -1}, "burst"},
		{ConnConfig{IPv6Prefix: 129}, "IPv6 prefix"},
		{ConnConfig{MaxTracked: -1}, "table size"},
	} {
		_, err := NewConnLimiter(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("NewConnLimiter(%+v) = %v, want an error about %s", c.cfg, err, c.says)
		}
	}
}
