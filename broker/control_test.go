package broker

import (
	"testing"
	"time"
)

// TestPingsSpendTheCommandRate: pings and commands draw on one bucket, a
// ping over the rate is refused without a reply, and no close follows.
func TestPingsSpendTheCommandRate(t *testing.T) {
	const rate = 5
	b, _ := newTestBroker(t, Config{RateLimit: rate})
	c := connect(t, b, ClientInfo{})
	start := time.Now()
	allowed := 0
	for range 4 * rate {
		if c.s.AllowPing() {
			allowed++
		}
	}
	// The bucket refills while the loop runs; a slow machine earns more.
	most := 2*rate + 1 + int(time.Since(start).Seconds()*rate)
	if allowed < 2*rate || allowed > most {
		t.Fatalf("%d pings allowed, want the burst of %d to %d", allowed, 2*rate, most)
	}
	c.s.HandleText([]byte(`{"type":"ping","id":"after"}`))
	if r := c.reply(t, "after"); r["code"] != string(CodeRateLimited) {
		t.Fatalf("a command after the pings spent the bucket: %v, want rate_limited", r)
	}
	if len(c.ofType("error")) != 1 || c.code() != 0 {
		t.Fatalf("refused pings were answered or closed the connection: %d errors, close %d", len(c.ofType("error")), c.code())
	}
}

func TestPingsAreUnlimitedWithoutARateAndRefusedOnceClosed(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: -1})
	c := connect(t, b, ClientInfo{})
	for range 1000 {
		if !c.s.AllowPing() {
			t.Fatal("a ping refused with no rate limit")
		}
	}
	c.s.Disconnected()
	if c.s.AllowPing() {
		t.Fatal("a ping allowed after Disconnected")
	}
}
