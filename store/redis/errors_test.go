package redis_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// admin is a plain client for the test's own commands to srv.
func admin(t *testing.T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *goredis.Client, args ...any) any {
	t.Helper()
	v, err := c.Do(ctxFor(t), args...).Result()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// wantNothingPublished fails unless err is unavailable and says nothing
// was published.
func wantNothingPublished(t *testing.T, what string, err error) {
	t.Helper()
	var e *broker.Error
	if !errors.As(err, &e) || e.Code != broker.CodeUnavailable || errors.Is(err, broker.ErrOutcomeUnknown) ||
		!strings.Contains(e.Message, "nothing was published") {
		t.Fatalf("%s: %v, want unavailable saying nothing was published", what, err)
	}
}

// wantOutcomeUnknown fails unless err is unavailable and says the publish
// may have been applied.
func wantOutcomeUnknown(t *testing.T, what string, err error) {
	t.Helper()
	var e *broker.Error
	if !errors.As(err, &e) || e.Code != broker.CodeUnavailable || !errors.Is(err, broker.ErrOutcomeUnknown) ||
		!strings.Contains(e.Message, "may have been applied") {
		t.Fatalf("%s: %v, want unavailable saying the publish may have been applied", what, err)
	}
}

// refusal makes a Redis refuse writes and undoes it.
type refusal struct {
	refuse, restore func(t *testing.T, srv *redistest.Server, a *goredis.Client)
}

var refusals = map[string]refusal{
	"out of memory": {
		refuse: func(t *testing.T, _ *redistest.Server, a *goredis.Client) {
			do(t, a, "CONFIG", "SET", "maxmemory-policy", "noeviction")
			do(t, a, "CONFIG", "SET", "maxmemory", strconv.FormatInt(usedMemory(t, a)+256<<10, 10))
		},
		restore: func(t *testing.T, _ *redistest.Server, a *goredis.Client) {
			do(t, a, "CONFIG", "SET", "maxmemory", "0")
		},
	},
	"read-only replica": {
		refuse: func(t *testing.T, _ *redistest.Server, a *goredis.Client) {
			master := redistest.Start(t)
			host, port, _ := strings.Cut(master.Addr(), ":")
			do(t, a, "REPLICAOF", host, port)
		},
		restore: func(t *testing.T, _ *redistest.Server, a *goredis.Client) {
			do(t, a, "REPLICAOF", "NO", "ONE")
		},
	},
}

func usedMemory(t *testing.T, a *goredis.Client) int64 {
	t.Helper()
	info, err := a.Info(ctxFor(t), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in INFO: %q", info)
	return 0
}

// A Redis that refuses writes is unavailable, never internal: nothing was
// published, and the node is not ready until Redis takes writes again.
func TestRedisRefusingWritesIsUnavailableAndNotReady(t *testing.T) {
	for name, r := range refusals {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			a := admin(t, srv.Addr())
			e := newEngine(t, srv.URL(), redis.Config{HistorySize: 1000})
			mustPublish(t, e, request("full"))
			r.refuse(t, srv, a)
			err := publishUntilRefused(t, e, a)
			wantNothingPublished(t, "publish refused by Redis", err)
			if err := e.Ready(ctxFor(t)); !errors.Is(err, broker.ErrUnavailable) {
				t.Fatalf("Ready while Redis refuses writes: %v, want unavailable", err)
			}
			r.restore(t, srv, a)
			mustPublish(t, e, request("full"))
			if err := e.Ready(ctxFor(t)); err != nil {
				t.Fatalf("Ready after a publish succeeded again: %v", err)
			}
		})
	}
}

// Ready asks Redis for a write: a node with no publishes of its own finds
// a Redis that refuses them, and is ready again once Redis takes writes.
func TestReadyAsksRedisForAWrite(t *testing.T) {
	for name, r := range map[string]refusal{
		"out of memory": {
			refuse: func(t *testing.T, _ *redistest.Server, a *goredis.Client) {
				do(t, a, "CONFIG", "SET", "maxmemory-policy", "noeviction")
				do(t, a, "CONFIG", "SET", "maxmemory", "1")
			},
			restore: refusals["out of memory"].restore,
		},
		"read-only replica": refusals["read-only replica"],
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			a := admin(t, srv.Addr())
			e := newEngine(t, srv.URL(), redis.Config{})
			if err := e.Ready(ctxFor(t)); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			r.refuse(t, srv, a)
			if err := e.Ready(ctxFor(t)); !errors.Is(err, broker.ErrUnavailable) {
				t.Fatalf("Ready while Redis refuses writes: %v, want unavailable", err)
			}
			r.restore(t, srv, a)
			if err := e.Ready(ctxFor(t)); err != nil {
				t.Fatalf("Ready after Redis takes writes again: %v", err)
			}
		})
	}
}

// publishUntilRefused publishes 4 KiB messages until one fails, and checks
// that the failed one left no trace in Redis.
func publishUntilRefused(t *testing.T, e *redis.Engine, a *goredis.Client) error {
	t.Helper()
	data := []byte(`"` + strings.Repeat("x", 4<<10) + `"`)
	for range 10000 {
		req := request("full")
		req.Data = data
		_, err := e.Publish(ctxFor(t), req)
		if err == nil {
			continue
		}
		h, herr := e.History(ctxFor(t), "full", 0, 0)
		if herr == nil && len(h.Messages) > 0 && h.Messages[len(h.Messages)-1].ID == req.ID {
			t.Fatalf("a publish answered %v is in history", err)
		}
		return err
	}
	t.Fatal("Redis took every publish")
	return nil
}

// The script cache Redis lost is loaded again: no error reaches a publisher.
func TestScriptFlushIsReloaded(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	mustPublish(t, e, request("flushed"))
	do(t, admin(t, srv.Addr()), "SCRIPT", "FLUSH")
	mustPublish(t, e, request("flushed"))
}

// sleepScript keeps Redis busy, answering nobody, for ARGV[1] microseconds,
// as DEBUG SLEEP would (which Redis 7 refuses by default).
const sleepScript = `local s = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= tonumber(ARGV[1])`
