//go:build unix

package redis_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A replica whose acknowledgements take longer than the short wait of a
// late replica (one across regions, or busy) still keeps up: once it is
// back after a stall, the reports wait for it again. Judged by the
// 10 ms waits alone, it stayed late for good, and every report was taken
// without its confirmation.
func TestALaggingReplicaIsWaitedForAgainAfterAStall(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	link := startLaggingLink(t, master.Addr(), 150*time.Millisecond)
	replicate(t, master, replica, link.addr())
	e := newEngine(t, master.URL(), redis.Config{NodeID: "a"})
	queue := func(ev string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.QueueEvent(ctx, []byte(ev), 1000); err != nil {
			t.Fatalf("QueueEvent(%s): %v", ev, err)
		}
	}
	queue(`"before"`)
	if redis.ReplicaLate(e) {
		t.Fatal("a replica 150 ms away was taken for late")
	}

	link.setDelay(5 * time.Second) // the next report waits out its patience
	queue(`"stalled"`)
	if !redis.ReplicaLate(e) {
		t.Fatal("a stalled replica was not taken for late")
	}
	link.setDelay(150 * time.Millisecond)

	n := 0
	if !eventually(func() bool {
		n++
		queue(`"after"`)
		return !redis.ReplicaLate(e)
	}) {
		t.Fatalf("the replica, back and 150 ms away, was still late after %d reports", n)
	}
	queue(`"confirmed"`)
	if redis.ReplicaLate(e) {
		t.Fatal("the replica, found keeping up, was taken for late again at the next report")
	}
}

// laggingLink forwards a replica's connection to its master, holding back
// what the replica sends (its acknowledgements) by a delay that the test
// can change.
type laggingLink struct {
	l     net.Listener
	delay atomic.Int64 // nanoseconds
	wg    sync.WaitGroup
}

func startLaggingLink(t *testing.T, target string, delay time.Duration) *laggingLink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &laggingLink{l: l}
	k.delay.Store(int64(delay))
	var conns sync.Map
	k.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			conns.Store(c, s)
			k.wg.Go(func() { k.forward(c, s, true) })
			k.wg.Go(func() { k.forward(s, c, false) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Range(func(c, s any) bool {
			c.(net.Conn).Close()
			s.(net.Conn).Close()
			return true
		})
		k.wg.Wait()
	})
	return k
}

func (k *laggingLink) addr() string { return k.l.Addr().String() }

// setDelay holds back by d what the replica sends from now on, after
// what the link holds already.
func (k *laggingLink) setDelay(d time.Duration) { k.delay.Store(int64(d)) }

// forward copies from to to, each read held back by the delay when
// delayed, in order.
func (k *laggingLink) forward(from, to net.Conn, delayed bool) {
	defer to.Close()
	type chunk struct {
		b   []byte
		due time.Time
	}
	chunks := make(chan chunk, 1024)
	var sender sync.WaitGroup
	sender.Go(func() {
		var failed error
		for c := range chunks { // drained after a failed write, so that the reads end
			time.Sleep(time.Until(c.due))
			if failed == nil {
				_, failed = to.Write(c.b)
			}
		}
	})
	defer sender.Wait()
	defer close(chunks)
	buf := make([]byte, 64<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			due := time.Now()
			if delayed {
				due = due.Add(time.Duration(k.delay.Load()))
			}
			chunks <- chunk{b: append([]byte(nil), buf[:n]...), due: due}
		}
		if err != nil {
			return
		}
	}
}
