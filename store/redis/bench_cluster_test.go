package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkClusterFanIn publishes round-robin to 100 topics on a Redis
// Cluster of three masters while one other node subscribes to none, one,
// or all of them (or to one and a pattern that matches none), and reports
// per publish what Redis sent out (total_net_output_bytes of the masters:
// publish replies, and the messages to the subscribing node), what
// crossed the cluster bus (cluster_stats_messages_publish_received and
// publishshard), and the publish script's Redis time.
func BenchmarkClusterFanIn(b *testing.B) {
	c := redistest.StartCluster(b, 3, 0)
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = fmt.Sprintf("fan.t%d", i)
	}
	for _, tc := range []struct {
		name     string
		topics   int
		patterns []string
	}{
		{"subscribed=0", 0, nil},
		{"subscribed=1", 1, nil},
		{"subscribed=100", 100, nil},
		{"subscribed=1+pattern", 1, []string{"other.*"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := redis.Config{Prefix: uniquePrefix(b), HistorySize: 10, ProbeInterval: time.Hour, CheckInterval: time.Hour}
			cfg.NodeID = "pub"
			pub := newEngine(b, c.URL(), cfg)
			cfg.NodeID = "sub"
			sub := newEngine(b, c.URL(), cfg)
			var got atomic.Int64
			sub.Attach(handlerFunc(func(*broker.Message) { got.Add(1) }))
			for _, t := range topics[:tc.topics] {
				mustSubscribe(b, sub, t)
			}
			for _, p := range tc.patterns {
				mustSubscribe(b, sub, p)
			}
			if !eventually(func() bool { return redis.ClassicPublishing(pub) == (len(tc.patterns) > 0) }) {
				b.Fatal("the publisher's view of the pattern lease never settled")
			}
			reqs := make([]broker.PublishRequest, len(topics))
			for i, t := range topics {
				reqs[i] = request(t)
				reqs[i].Data = make([]byte, 100)
				for j := range reqs[i].Data {
					reqs[i].Data[j] = 'x'
				}
				reqs[i].Data[0], reqs[i].Data[99] = '"', '"'
			}
			before := clusterCounters(b, c)
			want := int64(0)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%len(topics) < tc.topics {
					want++
				}
				if _, err := pub.Publish(b.Context(), reqs[i%len(topics)]); err != nil {
					b.Fatal(err)
				}
			}
			if !eventually(func() bool { return got.Load() >= want }) {
				b.Fatalf("the subscriber got %d of %d messages", got.Load(), want)
			}
			b.StopTimer()
			after := clusterCounters(b, c)
			n := float64(b.N)
			b.ReportMetric(float64(after.outBytes-before.outBytes)/n, "redis-out-B/publish")
			b.ReportMetric(float64(after.busPublish-before.busPublish)/n, "bus-msgs/publish")
			b.ReportMetric(float64(got.Load())/n, "delivered/publish")
			if calls := after.evalCalls - before.evalCalls; calls > 0 {
				b.ReportMetric(float64(after.evalUsec-before.evalUsec)/float64(calls), "script-us/call")
			}
		})
	}
}

// counters are sums over a cluster's masters.
type counters struct {
	outBytes, busPublish, evalCalls, evalUsec int64
}

func clusterCounters(b *testing.B, c *redistest.Cluster) counters {
	var out counters
	for _, m := range masters(c) {
		rdb := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
		text, err := rdb.Info(b.Context(), "stats", "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		cl, err := rdb.ClusterInfo(b.Context()).Result()
		_ = rdb.Close()
		if err != nil {
			b.Fatal(err)
		}
		fields := infoFields(text + "\r\n" + cl)
		out.outBytes += atoi(fields["total_net_output_bytes"])
		out.busPublish += atoi(fields["cluster_stats_messages_publish_received"]) +
			atoi(fields["cluster_stats_messages_publishshard_received"])
		for _, cmd := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
			stat := fields[cmd] // calls=N,usec=N,...
			for _, kv := range strings.Split(stat, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "calls":
					out.evalCalls += atoi(v)
				case "usec":
					out.evalUsec += atoi(v)
				}
			}
		}
	}
	return out
}

func infoFields(text string) map[string]string {
	out := make(map[string]string)
	for _, line := range strings.Split(text, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

func atoi(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
