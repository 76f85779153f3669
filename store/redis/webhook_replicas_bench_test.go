package redis

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/internal/redistest"
)

// BenchmarkQueueEventConfirmed: one op is one webhook event queued, on a
// master with a replica (a Sentinel set) and on one server:
// "unconfirmed" runs the queue's script as reports did before a replica
// had to confirm them, "confirmed" is QueueEvent (on the master with a
// replica, the script and WAIT 1 on one connection; on one server, which
// has no replica to wait for, the script alone), each by one caller (a
// recorder's reports go one after another) and by eight at once (the
// recorders).
func BenchmarkQueueEventConfirmed(b *testing.B) {
	s := redistest.StartSentinel(b)
	e := startEngine(b, Config{URL: s.URL(), NodeID: "n1", Prefix: fmt.Sprintf("b%d:", time.Now().UnixNano()), Logger: zap.NewNop()})
	one := startEngine(b, Config{URL: redistest.Start(b).URL(), NodeID: "n1", Prefix: "b:", Logger: zap.NewNop()})
	ev := []byte(`{"name":"client_disconnected","session":"0b1f5c4e-8f0a-4d55-9d2c-3c1e2a7b9f10","user":"42","code":1000}`)
	unconfirmed := func(e *Engine) error {
		return queueScript.Run(context.Background(), e.rdb, []string{e.keys.webhooks("events")}, ev, 1<<30).Err()
	}
	confirmed := func(e *Engine) error {
		_, err := e.QueueEvent(context.Background(), ev, 1<<30)
		return err
	}
	for _, c := range []struct {
		name  string
		e     *Engine
		queue func(*Engine) error
	}{
		{"replica/unconfirmed", e, unconfirmed}, {"replica/confirmed", e, confirmed},
		{"one-server/unconfirmed", one, unconfirmed}, {"one-server/confirmed", one, confirmed},
	} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := c.queue(c.e); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			emptyQueue(b, c.e)
		})
		b.Run(c.name+"/8-callers", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.queue(c.e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			emptyQueue(b, c.e)
		})
	}
}

// emptyQueue deletes e's webhook queue.
func emptyQueue(b *testing.B, e *Engine) {
	if err := e.rdb.Del(context.Background(), e.keys.webhooks("events")).Err(); err != nil && err != goredis.Nil {
		b.Fatal(err)
	}
}
