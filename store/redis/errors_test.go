package redis_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

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

// A publish Redis took but did not answer in time may have been applied,
// and the publisher is told so.
func TestPublishTimeoutSaysOutcomeUnknown(t *testing.T) {
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10, Timeout: 300 * time.Millisecond})
	mustPublish(t, e, request("slow"))
	slept := make(chan error, 1)
	go func() { slept <- a.Eval(context.Background(), sleepScript, nil, 1_000_000).Err() }()
	time.Sleep(100 * time.Millisecond) // the script runs
	_, err := e.Publish(ctxFor(t), request("slow"))
	wantOutcomeUnknown(t, "publish while Redis was busy", err)
	if err := <-slept; err != nil && !errors.Is(err, goredis.Nil) {
		t.Fatalf("sleep script: %v", err)
	}
	// And it was: Redis ran it once it was free.
	if !eventually(func() bool {
		h, err := e.History(ctxFor(t), "slow", 0, 0)
		return err == nil && h.Seq == 2
	}) {
		t.Fatal("the timed-out publish was never applied; the test proves nothing")
	}
}

// A paused Redis holds the publish it was sent, and may run it later.
func TestPublishDuringClientPauseSaysOutcomeUnknown(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10, Timeout: 300 * time.Millisecond})
	mustPublish(t, e, request("paused"))
	do(t, admin(t, srv.Addr()), "CLIENT", "PAUSE", "1000", "WRITE")
	_, err := e.Publish(ctxFor(t), request("paused"))
	wantOutcomeUnknown(t, "publish while Redis was paused", err)
}

// A publish that never reached Redis was not published.
func TestPublishToAStoppedRedisSaysNothingPublished(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	mustPublish(t, e, request("down"))
	srv.Stop()
	_, err := e.Publish(ctxFor(t), request("down"))
	wantNothingPublished(t, "publish with Redis stopped", err)
}

// A server that takes each connection and closes it before answering
// anything (a proxy with no Redis behind it, or a Redis refusing the TLS
// client) got no publish: go-redis sends one only once its handshake was
// answered.
func TestPublishToAServerClosingEveryConnectionSaysNothingPublished(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepting := make(chan struct{})
	go func() { // ends when the listener is closed, which the cleanup waits for
		defer close(accepting)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-accepting })
	e := newEngine(t, "redis://"+l.Addr().String()+"/0", redis.Config{HistorySize: 10})
	_, err = e.Publish(ctxFor(t), request("closed"))
	wantNothingPublished(t, "publish to a server that closes every connection", err)
}

// A publish whose connection breaks after it was sent is not sent again
// unless its idempotency key makes that safe: it ran once, and a second run
// would publish it twice.
func TestPublishIsNotRetriedAfterItWasSent(t *testing.T) {
	for _, key := range []string{"", "k1"} {
		t.Run("key="+key, func(t *testing.T) {
			srv := redistest.Start(t)
			px := redistest.StartProxy(t, srv.Addr())
			prefix := uniquePrefix(t)
			e := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{
				Prefix: prefix, HistorySize: 10, Timeout: 5 * time.Second,
				ProbeInterval: time.Hour, CheckInterval: time.Hour,
			})
			mustPublish(t, e, request("once"))
			res, err := publishThenCut(t, px, e, admin(t, srv.Addr()), prefix+"{once}:meta", key)
			if key == "" {
				wantOutcomeUnknown(t, "publish whose connection broke", err)
			} else if err != nil || res.Seq != 2 {
				t.Fatalf("retried publish with a key: %+v %v, want seq 2, the first run's", res, err)
			}
			h, err := e.History(ctxFor(t), "once", 0, 0)
			if err != nil || h.Seq != 2 {
				t.Fatalf("after one publish: %+v %v, want seq 2", h.Position, err)
			}
		})
	}
}

// publishThenCut publishes with Redis's replies swallowed, waits until Redis
// ran the publish (meta's seq is 2), then breaks every connection and
// returns what Publish answered.
func publishThenCut(t *testing.T, px *redistest.Proxy, e *redis.Engine, a *goredis.Client, meta, key string) (broker.PublishResult, error) {
	t.Helper()
	px.Silence()
	type outcome struct {
		res broker.PublishResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		req := request("once")
		req.IdempotencyKey = key
		res, err := e.Publish(context.Background(), req)
		done <- outcome{res, err}
	}()
	ran := eventually(func() bool { return a.HGet(ctxFor(t), meta, "seq").Val() == "2" })
	px.Cut()
	px.Restore()
	got := <-done
	if !ran {
		t.Fatalf("the publish never ran in Redis: %v", got.err)
	}
	return got.res, got.err
}
