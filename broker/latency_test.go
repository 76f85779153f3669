package broker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLatencyHistogramBuckets(t *testing.T) {
	var h latencyHistogram
	h.observe(0)                      // first bucket
	h.observe(100 * time.Microsecond) // on a bound: that bucket (le)
	h.observe(101 * time.Microsecond) // the next
	h.observe(time.Minute)            // above every bound
	s := h.snapshot()
	if s.Count != 4 {
		t.Fatalf("Count = %d, want 4", s.Count)
	}
	if s.Counts[0] != 2 || s.Counts[1] != 3 || s.Counts[len(s.Counts)-1] != 3 {
		t.Fatalf("cumulative counts %v, want 2 at 100µs, 3 at 250µs, 3 at the last bound", s.Counts)
	}
	if want := time.Minute + 201*time.Microsecond; s.Sum != want {
		t.Fatalf("Sum = %v, want %v", s.Sum, want)
	}
	if len(s.Bounds) != len(s.Counts) {
		t.Fatalf("%d bounds for %d counts", len(s.Bounds), len(s.Counts))
	}
}

func TestPublishLatencyCountsEveryPath(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	ctx := context.Background()
	if _, err := b.Publish(ctx, "a", []byte("1"), ""); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "p1", `{"type":"publish","id":"p1","topic":"a","data":1}`); r["type"] != "published" {
		t.Fatalf("publish reply %v", r)
	}
	if got := b.PublishLatency().Count; got != 2 {
		t.Fatalf("after an HTTP and a WebSocket publish: Count = %d, want 2", got)
	}
	e.mu.Lock()
	e.failPublish = Unavailable(errors.New("engine down"))
	e.mu.Unlock()
	if _, err := b.Publish(ctx, "a", []byte("1"), ""); err == nil {
		t.Fatal("Publish on a failing engine succeeded")
	}
	if _, err := b.Publish(ctx, "bad topic", []byte("1"), ""); err == nil {
		t.Fatal("Publish to an invalid topic succeeded")
	}
	// The failed engine call waited like any other; a refused request never reached it.
	if got := b.PublishLatency().Count; got != 3 {
		t.Fatalf("after a failed and a refused publish: Count = %d, want 3", got)
	}
}
