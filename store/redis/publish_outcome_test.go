package redis_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// What a publisher is told when Redis did not answer its publish
// (docs/protocol.md section 3): that it may have been applied when Redis
// may have run it, and that nothing was published when the call never
// reached Redis.

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
