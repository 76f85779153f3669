package limits

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
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

// TestMatchesAModelThatNeverForgets runs random opens, closes and clock
// steps through the limiter and through a model that remembers every
// address forever: forgetting must never change a decision. The steps are
// multiples of 0.5 tokens, so both sides compute exactly.
func TestMatchesAModelThatNeverForgets(t *testing.T) {
	const rate, burst, maxOpen = 2, 3, 2
	l, clock := newLimiter(t, ConnConfig{MaxOpen: maxOpen, Rate: rate, Burst: burst})
	type modelEntry struct {
		open   int
		tokens float64
		stamp  time.Time
	}
	model := map[netip.Addr]*modelEntry{}
	held := map[netip.Addr][]func(){}
	ips := []netip.Addr{ipA, ipB, ipC}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		ip := ips[rng.IntN(len(ips))]
		m := model[ip]
		if m == nil {
			m = &modelEntry{tokens: burst, stamp: clock.Now()}
			model[ip] = m
		}
		switch rng.IntN(3) {
		case 0:
			clock.Advance(time.Duration(rng.IntN(4)) * 250 * time.Millisecond)
		case 1:
			want := m.open < maxOpen
			if want {
				m.tokens = min(burst, m.tokens+clock.Now().Sub(m.stamp).Seconds()*rate)
				m.stamp = clock.Now()
				want = m.tokens >= 1
				if want {
					m.tokens--
					m.open++
				}
			}
			release, ok := l.Acquire(ip)
			if ok != want {
				t.Fatalf("step %d: Acquire(%v) = %v, model says %v", step, ip, ok, want)
			}
			if ok {
				held[ip] = append(held[ip], release)
			}
		case 2:
			if n := len(held[ip]); n > 0 {
				held[ip][n-1]()
				held[ip] = held[ip][:n-1]
				m.open--
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	const maxOpen, workers, rounds = 3, 16, 300
	clock := newFakeClock()
	l, err := NewConnLimiter(ConnConfig{MaxOpen: maxOpen, Rate: 1000, Burst: 50, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{ipA, ipB, ipC, netip.MustParseAddr("2001:db8::1")}
	var open [4]atomic.Int32
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				i := (w + r) % len(ips)
				release, ok := l.Acquire(ips[i])
				clock.Advance(time.Millisecond)
				if !ok {
					continue
				}
				admitted.Add(1)
				if n := open[i].Add(1); n > maxOpen {
					t.Errorf("%d connections open for %v, limit %d", n, ips[i], maxOpen)
				}
				open[i].Add(-1)
				release()
			}
		})
	}
	wg.Wait()
	if admitted.Load() == 0 {
		t.Fatal("no connection was ever admitted")
	}
	clock.Advance(time.Second)
	mustAcquire(t, l, netip.MustParseAddr("192.0.2.200"))()
	if n := l.Tracked(); n != 1 {
		t.Errorf("Tracked = %d after every connection closed and buckets filled, want 1", n)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l, err := NewConnLimiter(ConnConfig{MaxOpen: 1000, Rate: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ips := make([]netip.Addr, 1024)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if release, ok := l.Acquire(ips[i%len(ips)]); ok {
				release()
			}
		}
	})
}
