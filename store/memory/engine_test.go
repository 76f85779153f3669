package memory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{HistorySize: -1}, "history size"},
		{Config{HistoryTTL: -time.Second}, "history TTL"},
		{Config{IdempotencyTTL: -time.Second}, "idempotency TTL"},
		{Config{MaxHistoryBytes: -1}, "max history bytes"},
		{Config{IdempotencyKeysPerTopic: -1}, "idempotency key bound"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero Config) = %v, want nil", err)
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with a negative history size did not panic")
		}
	}()
	New(Config{HistorySize: -1})
}

func TestDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.HistoryTTL != DefaultHistoryTTL || c.IdempotencyTTL != DefaultIdempotencyTTL ||
		c.IdempotencyKeysPerTopic != DefaultIdempotencyKeysPerTopic || c.MaxHistoryBytes != DefaultMaxHistoryBytes ||
		c.Logger == nil || c.HistorySize != 0 {
		t.Fatalf("defaults = %+v", c)
	}
	if d := c.sweepInterval(); d != time.Minute {
		t.Fatalf("sweep interval for the default TTLs = %v, want 1m", d)
	}
	if d := (Config{HistoryTTL: time.Millisecond}).withDefaults().sweepInterval(); d != 10*time.Millisecond {
		t.Fatalf("sweep interval for a 1ms TTL = %v, want the 10ms floor", d)
	}
}

func TestCloseStopsJanitorAndRefusesCalls(t *testing.T) {
	e := New(Config{HistorySize: 10})
	closeEngine(t, e)
	select {
	case <-e.done:
	default:
		t.Fatal("janitor still running after Close")
	}
	closeEngine(t, e) // a second Close is harmless
	ctx := context.Background()
	_, err := e.Publish(ctx, req("closed"))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish after Close = %v, want ErrClosed as unavailable", err)
	}
	if _, err := e.History(ctx, "closed", 0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("History after Close = %v, want ErrClosed", err)
	}
	if _, err := e.Position(ctx, "closed"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Position after Close = %v, want ErrClosed", err)
	}
	if err := e.Ready(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v, want ErrClosed", err)
	}
}

func TestReadyWhileOpen(t *testing.T) {
	e, _ := testEngine(t, Config{})
	if err := e.Ready(context.Background()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
}

func TestPublishRefusesBadRequests(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 10})
	ctx := context.Background()
	if _, err := e.Publish(ctx, broker.PublishRequest{ID: "x"}); broker.CodeOf(err) != broker.CodeInvalidTopic {
		t.Fatalf("Publish to an empty topic = %v, want invalid_topic", err)
	}
	if _, err := e.Publish(ctx, broker.PublishRequest{Topic: "a"}); err == nil || !strings.Contains(err.Error(), "without a message id") {
		t.Fatalf("Publish without an id = %v, want an error saying so", err)
	}
	if p := mustPosition(t, e, "a"); p.Seq != 0 {
		t.Fatalf("refused publishes moved the topic to seq %d", p.Seq)
	}
}

func TestSubscribeHonoursContext(t *testing.T) {
	e, _ := testEngine(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Subscribe(ctx, "a.>"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a cancelled context = %v", err)
	}
	if err := e.Unsubscribe(ctx, "a.>"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Unsubscribe with a cancelled context = %v", err)
	}
}
