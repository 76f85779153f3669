package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Descriptions of every Herald metric, in the order a scrape lists them.
var (
	connectionsDesc = prometheus.NewDesc("herald_connections",
		"Client connections open on this node: WebSocket connections and SSE streams.", nil, nil)
	sseConnectionsDesc = prometheus.NewDesc("herald_sse_connections",
		"SSE streams open on this node (counted in herald_connections too).", nil, nil)
	subscriptionsDesc = prometheus.NewDesc("herald_subscriptions",
		"Subscriptions of this node's sessions.", nil, nil)
	topicsDesc = prometheus.NewDesc("herald_topics",
		"Topics and patterns with at least one subscriber on this node.", nil, nil)
	publishedDesc = prometheus.NewDesc("herald_messages_published_total",
		"Messages published through this node, over HTTP or WebSocket.", nil, nil)
	deliveredDesc = prometheus.NewDesc("herald_messages_delivered_total",
		"Messages queued to this node's clients, one per receiving connection.", nil, nil)
	droppedDesc = prometheus.NewDesc("herald_messages_dropped_total",
		"Frames queued to a client and dropped when its queue overflowed and it was closed with 4000.", nil, nil)
	gapsDesc = prometheus.NewDesc("herald_gaps_total",
		"Ranges of accepted messages this node could no longer deliver and sent a gap for instead.", nil, nil)
	gapMessagesDesc = prometheus.NewDesc("herald_gap_messages_total",
		"Messages in the ranges counted by herald_gaps_total.", nil, nil)
	// initiator is a label of its own rather than folded into code because
	// one code means different things by side: 1001 from the server is
	// its shutdown, from a browser a page going away; 1002 from a client
	// says our frames looked wrong to it. Summing over initiator still
	// gives the closes by code.
	closedDesc = prometheus.NewDesc("herald_connections_closed_total",
		"Connections ended, by the side that sent the first close frame and its code "+
			"(1005: a close frame without code, 1006: no close frame at all, other: codes not listed).",
		[]string{"initiator", "code"}, nil)
	throttledDesc = prometheus.NewDesc("herald_connections_throttled_total",
		"Times a connection sent commands and pings faster than twice HERALD_RATE_LIMIT and was left unread until its pace allowed more; once until it slows down.", nil, nil)
	rateLimitedDesc = prometheus.NewDesc("herald_commands_rate_limited_total",
		"Commands answered rate_limited, and WebSocket pings dropped, for the command rate, by the rate that refused them: "+
			"limit=\"connection\" the connection's own (HERALD_RATE_LIMIT), limit=\"address\" the budget all connections of its client address share (HERALD_COMMAND_RATE_PER_IP).",
		[]string{"limit"}, nil)
	publishWaitsDesc = prometheus.NewDesc("herald_publish_waits_total",
		"Publishes, over HTTP or WebSocket, held back because delivery lag was over HERALD_MAX_DELIVERY_LAG.", nil, nil)
	publishRefusedDesc = prometheus.NewDesc("herald_publish_refused_overload_total",
		"Publishes held back that were then refused unpublished (503 unavailable): delivery stayed behind, or the publisher gave up.", nil, nil)
	deliveryLagDesc = prometheus.NewDesc("herald_delivery_lag_seconds",
		"How long the oldest message the event loops could be writing has waited (connections whose reader keeps up only), or how far behind the readers are (herald_delivery_reader_lag_seconds), the larger.", nil, nil)
	readerLagDesc = prometheus.NewDesc("herald_delivery_reader_lag_seconds",
		"How far behind the subscribers' readers are, kernel buffers included: the median round trip of the event loops' probe pings (0: too few readers sampled).", nil, nil)
	publishDurationDesc = prometheus.NewDesc("herald_publish_duration_seconds",
		"How long the engine took to take a publish, failed ones included.", nil, nil)
	redisErrorsDesc = prometheus.NewDesc("herald_redis_errors_total",
		"Redis calls that failed.", nil, nil)
	redisReconnectsDesc = prometheus.NewDesc("herald_redis_reconnects_total",
		"Redis pub/sub connections replaced.", nil, nil)
	redisRebasesDesc = prometheus.NewDesc("herald_redis_epoch_rebases_total",
		"Topics this node moved to a new epoch because their seq went back in Redis (a failover lost acknowledged messages).", nil, nil)
	redisPresenceGapsDesc = prometheus.NewDesc("herald_redis_presence_gaps_total",
		"Times this node found that a topic's presence change log no longer held where it stood (more joins and leaves than the log keeps went by while its pub/sub connection was down, or a failover lost the log's tail): changes in between may not have reached its subscribers.", nil, nil)
	buildInfoDesc = prometheus.NewDesc("herald_build_info",
		"Always 1; the labels say which Herald runs.", []string{"version"}, nil)
)

// collector reads the parts' counters when Prometheus scrapes.
type collector struct {
	src    Sources
	redis  RedisStats  // nil: no Redis metrics
	memory MemoryStats // nil: no memory engine metrics
}

var _ prometheus.Collector = (*collector)(nil)

// NewCollector returns the collector of Herald's own metrics, for a
// caller that builds its own registry.
func NewCollector(src Sources) (prometheus.Collector, error) {
	if err := src.check(); err != nil {
		return nil, err
	}
	return newCollector(src), nil
}

func newCollector(src Sources) *collector {
	return &collector{src: src, redis: src.redisStats(), memory: src.memoryStats()}
}

// Describe sends every description the collector can send; Redis ones only
// when the engine is Redis, so the registry checks what Collect sends.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectionsDesc, sseConnectionsDesc, subscriptionsDesc, topicsDesc,
		publishedDesc, deliveredDesc, gapsDesc, gapMessagesDesc, droppedDesc, closedDesc, throttledDesc, rateLimitedDesc,
		publishWaitsDesc, publishRefusedDesc, deliveryLagDesc, readerLagDesc, publishDurationDesc, buildInfoDesc} {
		ch <- d
	}
	if c.redis != nil {
		ch <- redisErrorsDesc
		ch <- redisReconnectsDesc
		ch <- redisRebasesDesc
		ch <- redisPresenceGapsDesc
	}
	if c.memory != nil {
		for _, d := range memoryDescs {
			ch <- d
		}
	}
}

// Collect reads each part's counters once.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectBroker(ch)
	c.collectTransport(ch)
	if c.redis != nil {
		st := c.redis.Stats()
		ch <- prometheus.MustNewConstMetric(redisErrorsDesc, prometheus.CounterValue, float64(st.Errors))
		ch <- prometheus.MustNewConstMetric(redisReconnectsDesc, prometheus.CounterValue, float64(st.Reconnects))
		ch <- prometheus.MustNewConstMetric(redisRebasesDesc, prometheus.CounterValue, float64(st.Rebases))
		ch <- prometheus.MustNewConstMetric(redisPresenceGapsDesc, prometheus.CounterValue, float64(st.PresenceGaps))
	}
	if c.memory != nil {
		collectMemory(ch, c.memory)
	}
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, c.src.Version)
}

func (c *collector) collectBroker(ch chan<- prometheus.Metric) {
	st := c.src.Broker.Stats()
	ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(sseConnectionsDesc, prometheus.GaugeValue, float64(st.Streams))
	ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.GaugeValue, float64(st.Subscriptions))
	ch <- prometheus.MustNewConstMetric(topicsDesc, prometheus.GaugeValue, float64(st.Topics))
	ch <- prometheus.MustNewConstMetric(publishedDesc, prometheus.CounterValue, float64(st.MessagesIn))
	ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(st.MessagesOut))
	ch <- prometheus.MustNewConstMetric(gapsDesc, prometheus.CounterValue, float64(st.Gaps))
	ch <- prometheus.MustNewConstMetric(gapMessagesDesc, prometheus.CounterValue, float64(st.GapMessages))
	ch <- prometheus.MustNewConstMetric(rateLimitedDesc, prometheus.CounterValue, float64(st.RateLimitedConnection), "connection")
	ch <- prometheus.MustNewConstMetric(rateLimitedDesc, prometheus.CounterValue, float64(st.RateLimitedAddress), "address")

	h := c.src.Broker.PublishLatency()
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b.Seconds()] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(publishDurationDesc, h.Count, h.Sum.Seconds(), buckets)
}

func (c *collector) collectTransport(ch chan<- prometheus.Metric) {
	st := c.src.Transport.Stats()
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(st.DroppedFrames))
	ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.CounterValue, float64(st.Throttled))
	ch <- prometheus.MustNewConstMetric(publishWaitsDesc, prometheus.CounterValue, float64(st.PublishWaits))
	ch <- prometheus.MustNewConstMetric(publishRefusedDesc, prometheus.CounterValue, float64(st.PublishRefused))
	ch <- prometheus.MustNewConstMetric(deliveryLagDesc, prometheus.GaugeValue, st.DeliveryLag.Seconds())
	ch <- prometheus.MustNewConstMetric(readerLagDesc, prometheus.GaugeValue, st.ReaderLag.Seconds())
	for _, cc := range st.Closes {
		initiator, code := "server", "other"
		if cc.ByClient {
			initiator = "client"
		}
		if cc.Code != 0 {
			code = strconv.Itoa(cc.Code)
		}
		ch <- prometheus.MustNewConstMetric(closedDesc, prometheus.CounterValue, float64(cc.Count), initiator, code)
	}
}
