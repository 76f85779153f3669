package memory

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
)

// fakeClock is a clock tests move by hand, so expiry is tested without
// sleeping.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.nanos.Add(int64(d)) }

// testEngine builds an engine on a fake clock and closes it with the test.
func testEngine(t *testing.T, cfg Config) (*Engine, *fakeClock) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	clock := newFakeClock()
	e := newEngine(cfg, clock.now)
	t.Cleanup(func() { closeEngine(t, e) })
	return e, clock
}

func closeEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

var reqCounter atomic.Uint64

func req(topic string) broker.PublishRequest {
	n := reqCounter.Add(1)
	return broker.PublishRequest{Topic: topic, Data: []byte(`{}`), ID: fmt.Sprintf("msg-%d", n)}
}

func mustPublish(t *testing.T, e *Engine, r broker.PublishRequest) broker.PublishResult {
	t.Helper()
	res, err := e.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("Publish(%q): %v", r.Topic, err)
	}
	return res
}

func mustPosition(t *testing.T, e *Engine, topic string) broker.Position {
	t.Helper()
	p, err := e.Position(context.Background(), topic)
	if err != nil {
		t.Fatalf("Position(%q): %v", topic, err)
	}
	return p
}
