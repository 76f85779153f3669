package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkResumeRedisTime reports the time Redis spends on one topic's
// read for an SSE stream that resumes 32 topics of 100 messages (the
// default history): its share of the stream's bound (960 KiB / 32), from
// the start of history, with messages of each size. redis-µs/call is
// EVALSHA's usec over calls in INFO commandstats; copied-KB/call what
// the script copied (HistoryResult.Scanned) and returned-KB/call what it
// returned.
func BenchmarkResumeRedisTime(b *testing.B) {
	srv := redistest.Start(b)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { admin.Close() })
	for _, size := range []int{600, 4 << 10, 30_000, 60_000} {
		b.Run(fmt.Sprintf("data=%d", size), func(b *testing.B) {
			e := newEngine(b, srv.URL(), redis.Config{Prefix: uniquePrefix(b), HistorySize: 100})
			data := []byte(`"` + strings.Repeat("x", size) + `"`)
			var epoch string
			for range 100 {
				res, err := e.Publish(context.Background(), broker.PublishRequest{Topic: "resume", Data: data})
				if err != nil {
					b.Fatal(err)
				}
				epoch = res.Epoch
			}
			if err := admin.ConfigResetStat(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			budget := (1<<20 - 64<<10) / 32
			var copied, returned int
			for b.Loop() {
				h, err := e.ResumeHistory(context.Background(), "resume", broker.Position{Epoch: epoch}, budget)
				if err != nil {
					b.Fatal(err)
				}
				copied += h.Scanned.Bytes
				for _, m := range h.Messages {
					returned += broker.ResumeBytes(m)
				}
			}
			usec, calls := evalshaStats(b, admin)
			b.ReportMetric(usec/calls, "redis-µs/call")
			b.ReportMetric(float64(copied)/1000/float64(b.N), "copied-KB/call")
			b.ReportMetric(float64(returned)/1000/float64(b.N), "returned-KB/call")
		})
	}
}
