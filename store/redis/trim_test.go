package redis_test

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// TestHistoryReadsNoFurtherThanItsSize checks that a stream trimmed once
// every few publishes, not on each, still reads as the history of the last
// HistorySize messages, and that what it holds past them stays bounded,
// with histories larger and smaller than the trim period.
func TestHistoryReadsNoFurtherThanItsSize(t *testing.T) {
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	for _, size := range []int{1, 5, 20} {
		t.Run(fmt.Sprintf("history=%d", size), func(t *testing.T) {
			prefix := uniquePrefix(t)
			e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: size})
			const topic = "trim.me"
			for n := 1; n <= 3*size+7; n++ {
				if _, err := e.Publish(ctxFor(t), request(topic)); err != nil {
					t.Fatal(err)
				}
				res, err := e.History(ctxFor(t), topic, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				want := min(n, size)
				if len(res.Messages) != want || res.Messages[0].Seq != uint64(n-want+1) || res.Seq != uint64(n) {
					t.Fatalf("after %d publishes: %d messages from seq %d at %d, want %d from %d",
						n, len(res.Messages), res.Messages[0].Seq, res.Seq, want, n-want+1)
				}
				held, err := rdb.XLen(context.Background(), prefix+"{"+topic+"}:hist").Result()
				if err != nil {
					t.Fatal(err)
				}
				if bound := int64(size + min(size, 16) - 1); held > bound {
					t.Fatalf("after %d publishes the stream holds %d entries, more than %d", n, held, bound)
				}
			}
		})
	}
}
