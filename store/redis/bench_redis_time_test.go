package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkPublishRedisTime reports the time Redis itself spends on a
// publish: its EVALSHA calls' usec over calls from INFO commandstats,
// with history on and off, 32 publishers over 100 topics and a node
// subscribed to all of them. On a machine shared with other work that is
// steadier than publishes/s or the nodes' CPU, and it is the share of
// Redis in every publish.
func BenchmarkPublishRedisTime(b *testing.B) {
	srv := redistest.Start(b)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { admin.Close() })
	for _, history := range []int{100, 0} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			prefix := uniquePrefix(b)
			pub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: history})
			sub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: history})
			sub.Attach(handlerFunc(func(*broker.Message) {}))
			mustSubscribe(b, sub, "bench.>")
			if err := admin.ConfigResetStat(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for n := 0; pb.Next(); n++ {
					if _, err := pub.Publish(b.Context(), request(fmt.Sprintf("bench.%d", n%100))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			usec, calls := evalshaStats(b, admin)
			b.ReportMetric(usec/calls, "redis-µs/call")
		})
	}
}

// evalshaStats reads the usec and calls of EVALSHA from INFO commandstats.
func evalshaStats(b *testing.B, admin *goredis.Client) (usec, calls float64) {
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for _, field := range strings.Split(rest, ",") {
			name, value, _ := strings.Cut(field, "=")
			switch name {
			case "usec":
				usec, _ = strconv.ParseFloat(value, 64)
			case "calls":
				calls, _ = strconv.ParseFloat(value, 64)
			}
		}
	}
	if calls == 0 {
		b.Fatal("no EVALSHA in INFO commandstats")
	}
	return usec, calls
}
