package broker

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	var l rateLimiter
	now := time.Unix(100, 0).UnixNano()
	allowed := 0
	for range 50 {
		if l.allow(now, 10) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("burst of %d, want 20", allowed)
	}
	now += int64(time.Second) / 10
	if !l.allow(now, 10) || l.allow(now, 10) {
		t.Error("one interval later exactly one more command should pass")
	}
	now += int64(10 * time.Second)
	allowed = 0
	for range 50 {
		if l.allow(now, 10) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("after a long pause the burst is %d, want 20", allowed)
	}
	var off rateLimiter
	for range 1000 {
		if !off.allow(now, -1) {
			t.Fatal("a negative rate limits")
		}
	}
}

// allow is pace without an address budget, as the tests above ask it.
func (l *rateLimiter) allow(now int64, rate int) bool {
	return l.pace(now, rate, nil) == paceAllowed
}
