package main

import "testing"

func TestBurstWatchReleasesOnceABurstSettles(t *testing.T) {
	var w burstWatch
	steps := []struct {
		conns int
		want  bool
	}{
		{0, false},     // nothing happened
		{5000, false},  // connecting
		{12000, false}, // still connecting
		{19000, false}, // still connecting
		{19000, true},  // settled after 19,000 new ones: release
		{19000, false}, // released already
		{19050, false}, // small changes do not count
		{18500, false}, // 500 left: under the minimum change
		{18500, false}, // settled, but not a burst
		{10000, false}, // a burst of closes
		{10000, true},  // settled: release
		{10001, false}, // steady
	}
	for i, s := range steps {
		if got := w.settledAfterBurst(s.conns); got != s.want {
			t.Fatalf("step %d (%d connections): release %v, want %v", i, s.conns, got, s.want)
		}
	}
}

// The second release of a burst comes releaseAgainAfter looks after the
// first, while the count holds, and only then.
func TestBurstWatchReleasesAgainOnceQueuesAreFreed(t *testing.T) {
	var w burstWatch
	for _, n := range []int{0, 19000} {
		w.settledAfterBurst(n)
	}
	if !w.settledAfterBurst(19000) {
		t.Fatal("no first release")
	}
	for i := 1; i < releaseAgainAfter; i++ {
		if w.settledAfterBurst(19000) {
			t.Fatalf("released again %d looks after the first", i)
		}
	}
	if !w.settledAfterBurst(19005) {
		t.Fatalf("no second release %d looks after the first", releaseAgainAfter)
	}
	for range 3 * releaseAgainAfter {
		if w.settledAfterBurst(19000) {
			t.Fatal("a third release on a steady node")
		}
	}
}

func TestMemoryReleaserStops(t *testing.T) {
	calls := make(chan struct{}, 1)
	r := startMemoryReleaser(func() int {
		select {
		case calls <- struct{}{}:
		default:
		}
		return 0
	})
	<-calls  // it runs
	r.stop() // and returns once its goroutine ended
}
