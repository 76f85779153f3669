package metrics_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/metrics"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
)

// Fixed counters, so that the test can say exactly what a scrape shows.
type fakeBroker struct{}

func (fakeBroker) Stats() broker.Stats {
	return broker.Stats{Connections: 3, Streams: 1, Subscriptions: 5, Topics: 2, MessagesIn: 7, MessagesOut: 11,
		Gaps: 2, GapMessages: 200, RateLimitedConnection: 13, RateLimitedAddress: 17}
}

func (fakeBroker) PublishLatency() broker.Histogram {
	return broker.Histogram{
		Bounds: []time.Duration{time.Millisecond, time.Second},
		Counts: []uint64{2, 3},
		Count:  4,
		Sum:    2500 * time.Millisecond,
	}
}

type fakeTransport struct{}

func (fakeTransport) Stats() transport.Stats {
	return transport.Stats{
		Connections:    3,
		DroppedFrames:  9,
		DeliveryLag:    250 * time.Millisecond,
		ReaderLag:      125 * time.Millisecond,
		PublishWaits:   12,
		PublishRefused: 1,
		Throttled:      5,
		Closes: []transport.CloseCount{
			{Code: 4000, Count: 2},
			{Code: 1000, ByClient: true, Count: 6},
			{Code: 0, ByClient: true, Count: 1},
		},
	}
}

type fakeRedis struct{}

func (fakeRedis) Stats() redis.Stats {
	return redis.Stats{Errors: 4, Reconnects: 1, Rebases: 2, PresenceGaps: 3}
}

const wantExposition = `
# HELP herald_build_info Always 1; the labels say which Herald runs.
# TYPE herald_build_info gauge
herald_build_info{version="v1.2.3"} 1
# HELP herald_commands_rate_limited_total Commands answered rate_limited, and WebSocket pings dropped, for the command rate, by the rate that refused them: limit="connection" the connection's own (HERALD_RATE_LIMIT), limit="address" the budget all connections of its client address share (HERALD_COMMAND_RATE_PER_IP).
# TYPE herald_commands_rate_limited_total counter
herald_commands_rate_limited_total{limit="address"} 17
herald_commands_rate_limited_total{limit="connection"} 13
# HELP herald_connections Client connections open on this node: WebSocket connections and SSE streams.
# TYPE herald_connections gauge
herald_connections 3
# HELP herald_connections_closed_total Connections ended, by the side that sent the first close frame and its code (1005: a close frame without code, 1006: no close frame at all, other: codes not listed).
# TYPE herald_connections_closed_total counter
herald_connections_closed_total{code="1000",initiator="client"} 6
herald_connections_closed_total{code="4000",initiator="server"} 2
herald_connections_closed_total{code="other",initiator="client"} 1
# HELP herald_connections_throttled_total Times a connection sent commands and pings faster than twice HERALD_RATE_LIMIT and was left unread until its pace allowed more; once until it slows down.
# TYPE herald_connections_throttled_total counter
herald_connections_throttled_total 5
# HELP herald_delivery_lag_seconds How long the oldest message the event loops could be writing has waited (connections whose reader keeps up only), or how far behind the readers are (herald_delivery_reader_lag_seconds), the larger.
# TYPE herald_delivery_lag_seconds gauge
herald_delivery_lag_seconds 0.25
# HELP herald_delivery_reader_lag_seconds How far behind the subscribers' readers are, kernel buffers included: the median round trip of the event loops' probe pings (0: too few readers sampled).
# TYPE herald_delivery_reader_lag_seconds gauge
herald_delivery_reader_lag_seconds 0.125
# HELP herald_gap_messages_total Messages in the ranges counted by herald_gaps_total.
# TYPE herald_gap_messages_total counter
herald_gap_messages_total 200
# HELP herald_gaps_total Ranges of accepted messages this node could no longer deliver and sent a gap for instead.
# TYPE herald_gaps_total counter
herald_gaps_total 2
# HELP herald_messages_delivered_total Messages queued to this node's clients, one per receiving connection.
# TYPE herald_messages_delivered_total counter
herald_messages_delivered_total 11
# HELP herald_messages_dropped_total Frames queued to a client and dropped when its queue overflowed and it was closed with 4000.
# TYPE herald_messages_dropped_total counter
herald_messages_dropped_total 9
# HELP herald_messages_published_total Messages published through this node, over HTTP or WebSocket.
# TYPE herald_messages_published_total counter
herald_messages_published_total 7
# HELP herald_publish_duration_seconds How long the engine took to take a publish, failed ones included.
# TYPE herald_publish_duration_seconds histogram
herald_publish_duration_seconds_bucket{le="0.001"} 2
herald_publish_duration_seconds_bucket{le="1"} 3
herald_publish_duration_seconds_bucket{le="+Inf"} 4
herald_publish_duration_seconds_sum 2.5
herald_publish_duration_seconds_count 4
# HELP herald_publish_refused_overload_total Publishes held back that were then refused unpublished (503 unavailable): delivery stayed behind, or the publisher gave up.
# TYPE herald_publish_refused_overload_total counter
herald_publish_refused_overload_total 1
# HELP herald_publish_waits_total Publishes, over HTTP or WebSocket, held back because delivery lag was over HERALD_MAX_DELIVERY_LAG.
# TYPE herald_publish_waits_total counter
herald_publish_waits_total 12
# HELP herald_redis_epoch_rebases_total Topics this node moved to a new epoch because their seq went back in Redis (a failover lost acknowledged messages).
# TYPE herald_redis_epoch_rebases_total counter
herald_redis_epoch_rebases_total 2
# HELP herald_redis_errors_total Redis calls that failed.
# TYPE herald_redis_errors_total counter
herald_redis_errors_total 4
# HELP herald_redis_presence_gaps_total Times this node found that a topic's presence change log no longer held where it stood (more joins and leaves than the log keeps went by while its pub/sub connection was down, or a failover lost the log's tail): changes in between may not have reached its subscribers.
# TYPE herald_redis_presence_gaps_total counter
herald_redis_presence_gaps_total 3
# HELP herald_redis_reconnects_total Redis pub/sub connections replaced.
# TYPE herald_redis_reconnects_total counter
herald_redis_reconnects_total 1
# HELP herald_sse_connections SSE streams open on this node (counted in herald_connections too).
# TYPE herald_sse_connections gauge
herald_sse_connections 1
# HELP herald_subscriptions Subscriptions of this node's sessions.
# TYPE herald_subscriptions gauge
herald_subscriptions 5
# HELP herald_topics Topics and patterns with at least one subscriber on this node.
# TYPE herald_topics gauge
herald_topics 2
`

func TestCollectorExportsEveryCounter(t *testing.T) {
	c, err := metrics.NewCollector(metrics.Sources{
		Broker: fakeBroker{}, Transport: fakeTransport{}, Engine: fakeRedis{}, Version: "v1.2.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition)); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorFollowsNamingConventions(t *testing.T) {
	c, err := metrics.NewCollector(metrics.Sources{Broker: fakeBroker{}, Transport: fakeTransport{}, Engine: fakeRedis{}})
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c); n < 10 {
		t.Fatalf("linted %d metrics, want all of them", n)
	}
}

func TestNoRedisMetricsWithoutRedis(t *testing.T) {
	c, err := metrics.NewCollector(metrics.Sources{Broker: fakeBroker{}, Transport: fakeTransport{}, Engine: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "herald_redis_errors_total", "herald_redis_reconnects_total"); n != 0 {
		t.Fatalf("%d Redis metrics from a node without Redis", n)
	}
	if n := testutil.CollectAndCount(c, "herald_connections"); n != 1 {
		t.Fatalf("herald_connections collected %d times, want 1", n)
	}
}

func TestMissingSourcesAreRefused(t *testing.T) {
	for name, src := range map[string]metrics.Sources{
		"Broker":    {Transport: fakeTransport{}},
		"Transport": {Broker: fakeBroker{}},
	} {
		if _, err := metrics.New(src); !errors.Is(err, metrics.ErrSources) || !strings.Contains(err.Error(), name) {
			t.Errorf("New without %s: %v, want ErrSources naming it", name, err)
		}
		if _, err := metrics.NewRegistry(src); !errors.Is(err, metrics.ErrSources) {
			t.Errorf("NewRegistry without %s: %v, want ErrSources", name, err)
		}
		if _, err := metrics.NewCollector(src); !errors.Is(err, metrics.ErrSources) {
			t.Errorf("NewCollector without %s: %v, want ErrSources", name, err)
		}
	}
}

type fakeMemory struct{}

func (fakeMemory) Stats() memory.Stats {
	return memory.Stats{Topics: 4, HistoryBytes: 1000, MaxHistoryBytes: 4096, IdempotencyKeys: 2,
		HistoryEvictions: 3, MessagesEvicted: 30, TopicEvictions: 1, IdempotencyEvictions: 5}
}

func TestMemoryEngineMetrics(t *testing.T) {
	c, err := metrics.NewCollector(metrics.Sources{Broker: fakeBroker{}, Transport: fakeTransport{}, Engine: fakeMemory{}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP herald_memory_evictions_total What the memory engine's bounds dropped: topics that lost history, messages, whole topic states, idempotency keys.
# TYPE herald_memory_evictions_total counter
herald_memory_evictions_total{what="history"} 3
herald_memory_evictions_total{what="idempotency_keys"} 5
herald_memory_evictions_total{what="messages"} 30
herald_memory_evictions_total{what="topics"} 1
# HELP herald_memory_history_bytes Bytes of history, topic state and idempotency keys, as counted against the budget.
# TYPE herald_memory_history_bytes gauge
herald_memory_history_bytes 1000
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"herald_memory_evictions_total", "herald_memory_history_bytes"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "herald_redis_errors_total"); n != 0 {
		t.Fatalf("%d Redis metrics from the memory engine", n)
	}
}

// README's metrics section names every metric the collector can send.
func TestReadmeNamesEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("collector.go")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.ReadFile("memory.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`NewDesc\("(herald_[a-z_]+)"`).FindAllStringSubmatch(string(src)+string(mem), -1)
	if len(names) < 10 {
		t.Fatalf("found %d metric names in the collector", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n[1]) {
			t.Errorf("README does not name %s", n[1])
		}
	}
}
