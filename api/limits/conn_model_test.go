package limits

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The limiter against a model of its rules that never forgets an
// address, over random opens, closes and clock steps; under concurrent
// use; and what an acquire and its release cost.

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
