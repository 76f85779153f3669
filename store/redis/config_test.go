package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  redis.Config
		want string
	}{
		{"no URL", redis.Config{}, "URL"},
		{"bad URL", redis.Config{URL: "http://x"}, "URL"},
		{"negative history", redis.Config{URL: "redis://127.0.0.1:1", HistorySize: -1}, "HistorySize"},
		{"brace in prefix", redis.Config{URL: "redis://127.0.0.1:1", Prefix: "a{b"}, "Prefix"},
		{"negative TTL", redis.Config{URL: "redis://127.0.0.1:1", HistoryTTL: -time.Second}, "HistoryTTL"},
		{"negative timeout", redis.Config{URL: "redis://127.0.0.1:1", Timeout: -1}, "Timeout"},
		{"negative presence lapse", redis.Config{URL: "redis://127.0.0.1:1", PresenceLapse: -time.Second}, "PresenceLapse"},
		{"presence lapse too short", redis.Config{URL: "redis://127.0.0.1:1", PresenceLapse: time.Millisecond}, "PresenceLapse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := redis.New(context.Background(), tc.cfg)
			if err == nil {
				_ = e.Close(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestBadTopicsAreInvalidTopic(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	ctx := ctxFor(t)
	if _, err := e.Publish(ctx, request("a..b")); broker.CodeOf(err) != broker.CodeInvalidTopic {
		t.Errorf("Publish to a..b: %v, want invalid_topic", err)
	}
	if _, err := e.Publish(ctx, request("chat.*")); broker.CodeOf(err) != broker.CodeInvalidTopic {
		t.Errorf("Publish to a pattern: %v, want invalid_topic", err)
	}
	if _, err := e.History(ctx, "a{b}", 0, 0); broker.CodeOf(err) != broker.CodeInvalidTopic {
		t.Errorf("History of a{b}: %v, want invalid_topic", err)
	}
	if err := e.Subscribe(ctx, "chat.>.x"); broker.CodeOf(err) != broker.CodeInvalidTopic {
		t.Errorf("Subscribe to chat.>.x: %v, want invalid_topic", err)
	}
}

func TestNewWithRedisDownBecomesReadyLater(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	if err := e.Ready(ctxFor(t)); err == nil {
		t.Fatal("Ready with Redis down")
	}
	srv.Restart()
	if !eventually(func() bool { return e.Ready(ctxFor(t)) == nil }) {
		t.Fatal("never ready after Redis came up")
	}
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, "late")
	mustPublish(t, e, request("late"))
	rec.waitFor(t, "late", 1)
}
