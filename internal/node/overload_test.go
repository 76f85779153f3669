package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/transport"
)

// An overloaded node holds its publishers back instead of letting delivery
// fall behind: the transport's delivery lag stays within a few times its
// bound, publishers waited, and every subscriber, the slow ones included,
// gets every message in order. (TestStuckReaderDoesNotHoldPublishersBack
// has the subscriber that never reads.)
func TestOverloadKeepsDeliveryLagBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("overloads a node")
	}
	const (
		bound       = 50 * time.Millisecond
		subscribers = 200
		publishers  = 4
		messages    = 3000
		topic       = "load"
	)
	// The default queue bound: a reader that reads, but gets little CPU on
	// a busy machine, must not be taken for a slow consumer.
	n, _, addr := serve(t, node.Config{Transport: transport.Config{MaxDeliveryLag: bound, MaxQueueBytes: 1 << 20}})
	readers := make([]*reader, subscribers)
	for i := range readers {
		c := subscriber(t, addr, topic)
		readers[i] = new(reader)
		if i%10 == 0 {
			readers[i].pause = slowly
		}
		readers[i].start(t, c)
	}

	var maxLag atomic.Int64
	var published atomic.Uint64
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	data := []byte(`"` + strings.Repeat("x", 500) + `"`)
	for range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := n.Broker.Publish(context.Background(), topic, data, "")
				if err != nil {
					if !errors.Is(err, broker.ErrOverloaded) {
						t.Errorf("publish: %v", err)
						return
					}
					continue // refused, not published: nothing to expect
				}
				raise(&published, res.Seq) // the highest seq published so far
			}
		}()
	}
	sample := func() {
		if lag := int64(n.Transport.DeliveryLag()); lag > maxLag.Load() {
			maxLag.Store(lag)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for published.Load() < messages && time.Now().Before(deadline) {
		sample()
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	pubs.Wait()
	final := published.Load()
	for time.Now().Before(deadline) {
		sample()
		all := true
		for _, r := range readers {
			if e := r.err.Load(); e != nil {
				t.Fatalf("a reading subscriber got up to seq %d of %d (%d closed with 4000): %v",
					r.last.Load(), final, slowConsumerClosed(n), *e)
			}
			all = all && r.last.Load() == final
		}
		if all {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	for i, r := range readers {
		if got := r.last.Load(); got != final {
			t.Fatalf("subscriber %d got up to seq %d of %d", i, got, final)
		}
	}
	st := n.Transport.Stats()
	t.Logf("published %d; publishes held back %d, refused %d; largest lag seen %v",
		final, st.PublishWaits, st.PublishRefused, time.Duration(maxLag.Load()))
	if got := slowConsumerClosed(n); got != 0 {
		t.Fatalf("%d subscribers that read were closed with 4000", got)
	}
	if st.PublishWaits == 0 {
		t.Fatal("publishers were never held back: the node was not overloaded")
	}
	// Generous: the bound holds publishes back, it does not stop the ones
	// already taken; what matters is that it stays far from the seconds a
	// backlog of 256 KiB per connection would take.
	if lag := time.Duration(maxLag.Load()); lag > 20*bound {
		t.Fatalf("delivery lag reached %v, bound %v", lag, bound)
	}
}

// A subscriber that never reads does not hold publishers back: it is left
// to its queue bound and closed with 4000, while publishes go through
// without waiting.
func TestStuckReaderDoesNotHoldPublishersBack(t *testing.T) {
	const bound = time.Second // far above what the readers that read take
	n, _, addr := serve(t, node.Config{Transport: transport.Config{MaxDeliveryLag: bound, MaxQueueBytes: 64 << 10}})
	stuck, _ := dial(t, addr)
	subscribe(t, stuck, "t")
	live, _ := dial(t, addr)
	subscribe(t, live, "t")
	r := new(reader)
	r.start(t, live)
	data := []byte(`"` + strings.Repeat("y", 4000) + `"`)
	var last uint64
	deadline := time.Now().Add(time.Minute)
	for slowConsumerClosed(n) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber that never reads was not closed")
		}
		res, err := n.Broker.Publish(context.Background(), "t", data, "")
		if err != nil {
			t.Fatal(err)
		}
		last = res.Seq
		for r.last.Load() != last && r.err.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond) // in step with the reader, which never falls behind
		}
	}
	_ = stuck.SetDeadline(time.Now().Add(wait))
	if code := closeCode(t, stuck); code != broker.CloseSlowConsumer {
		t.Fatalf("closed with %d, want 4000", code)
	}
	if st := n.Transport.Stats(); st.PublishWaits != 0 {
		t.Fatalf("publishers were held back %d times by a reader that never reads", st.PublishWaits)
	}
	for r.last.Load() != last && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := r.last.Load(); got != last {
		t.Fatalf("the reading subscriber got up to %d of %d", got, last)
	}
}

func slowConsumerClosed(n *node.Node) uint64 {
	for _, cc := range n.Transport.Stats().Closes {
		if cc.Code == broker.CloseSlowConsumer && !cc.ByClient {
			return cc.Count
		}
	}
	return 0
}
