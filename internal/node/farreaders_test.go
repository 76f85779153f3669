package node_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/transport"
)

// Readers far away are not behind: 32 connections on node A that read
// every frame at once but answer pings 200 ms later (a 200 ms round trip:
// a phone, another continent) must not make A say it is behind on the lag
// board, and so must not hold node B's publishers, not even those of a
// topic nobody subscribes to. The same run with readers that answer at
// once is the yardstick, so that a slow machine holds both alike.
func TestFarReadersHoldNoPublisher(t *testing.T) {
	near := farReadersRun(t, 0)
	far := farReadersRun(t, 200*time.Millisecond)
	t.Logf("pongs at once: %d publishes, %d refused, held %v in all, slowest %v", near.n, near.refused, near.held, near.slowest)
	t.Logf("pongs 200 ms later: %d publishes, %d refused, held %v in all, slowest %v", far.n, far.refused, far.held, far.slowest)
	if far.held > near.held+time.Second {
		t.Fatalf("publishes to a topic nobody subscribes to, on another node, held %v of 4 s (%d of %d refused) by readers 200 ms away",
			far.held, far.refused, far.n)
	}
}

type farReadersResult struct {
	n, refused    int
	slowest, held time.Duration
}

func farReadersRun(t *testing.T, roundTrip time.Duration) farReadersResult {
	url := redistest.Start(t).URL()
	cfg := node.Config{Transport: transport.Config{MaxDeliveryLag: 100 * time.Millisecond, MaxQueueBytes: 1 << 20}}
	a, addrA := serveOnRedis(t, url, cfg)
	b, _ := serveOnRedis(t, url, cfg)
	const readers = 32
	for range readers {
		c := subscriber(t, addrA, "x")
		var mu sync.Mutex
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for {
				f, err := ws.ReadFrame(c.r)
				if err != nil {
					return
				}
				if f.Header.OpCode != ws.OpPing {
					continue
				}
				p := append([]byte(nil), f.Payload...)
				pong := func() {
					mu.Lock()
					defer mu.Unlock()
					_ = wsutil.WriteClientMessage(c, ws.OpPong, p)
				}
				if roundTrip == 0 {
					pong()
				} else {
					time.AfterFunc(roundTrip, pong)
				}
			}
		}()
		t.Cleanup(func() { c.Close(); <-finished })
	}
	stop := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // traffic the readers subscribe to, published on B
		defer wg.Done()
		for time.Now().Before(stop) {
			_, _ = b.Broker.Publish(context.Background(), "x", []byte(`"x"`), "")
			time.Sleep(time.Millisecond)
		}
	}()
	var res farReadersResult
	var refused atomic.Int64
	for time.Now().Before(stop) { // a topic nobody subscribes to, published on B
		start := time.Now()
		_, err := b.Broker.Publish(context.Background(), "y", []byte(`"y"`), "")
		took := time.Since(start)
		res.slowest = max(res.slowest, took)
		res.held += took
		res.n++
		if errors.Is(err, broker.ErrOverloaded) {
			refused.Add(1)
		} else if err != nil {
			t.Fatalf("publish y: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	res.refused = int(refused.Load())
	if n := slowConsumerClosed(a); n != 0 {
		t.Logf("%d readers closed with 4000", n)
	}
	return res
}
