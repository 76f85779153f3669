package api

import (
	"runtime/metrics"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
)

// sharedTopics is how many of its topics with subscribers a node shares
// with the cluster, most subscribers first; its busiest published topics
// are broker.TrafficTop more.
const sharedTopics = 100

// nodeStats is one node as /api/stats shows it in cluster.nodes.
type nodeStats struct {
	Node        string  `json:"node"`
	Version     string  `json:"version"`
	UptimeS     int64   `json:"uptime_s"`
	RSSBytes    uint64  `json:"rss_bytes"`   // resident memory; 0: unknown on this system
	HeapBytes   uint64  `json:"heap_bytes"`  // Go heap in use
	CPUPercent  float64 `json:"cpu_percent"` // of one core, since the stats before
	Connections int64   `json:"connections"` // WebSocket and SSE
	// SSEConnections are the SSE streams among Connections.
	SSEConnections int64   `json:"sse_connections"`
	Subscriptions  int64   `json:"subscriptions"`
	Topics         int64   `json:"topics"`
	MessagesIn     uint64  `json:"messages_in"`
	MessagesOut    uint64  `json:"messages_out"`
	InPerS         float64 `json:"in_per_s"`
	OutPerS        float64 `json:"out_per_s"`
	AtMS           int64   `json:"at_ms"` // when these were taken, Unix ms
}

// sharedStats is what a node posts for the others: its nodeStats and its
// busiest topics, bounded by sharedTopics and broker.TrafficTop.
type sharedStats struct {
	nodeStats
	Subscribed []broker.TopicCount `json:"subscribed"`
	// SubscribedCut: the node has more topics with subscribers than it
	// shares.
	SubscribedCut bool           `json:"subscribed_cut,omitempty"`
	Traffic       []topicTraffic `json:"traffic"`
	Untracked     uint64         `json:"untracked_publishes,omitempty"`
}

// topicTraffic is broker.TopicTraffic as nodes share it.
type topicTraffic struct {
	Topic  string  `json:"topic"`
	Rate   float64 `json:"rate"`
	Epoch  string  `json:"epoch,omitempty"`
	Seq    uint64  `json:"seq"`
	TimeMS int64   `json:"time_ms,omitempty"`
}

// localStats takes this node's stats, at most once per minCollect, and
// keeps what the rates are computed from.
type localStats struct {
	b       *broker.Broker
	version string

	mu   sync.Mutex
	last sharedStats
	at   time.Time
	cpu  time.Duration
}

// minCollect is how old this node's stats may be when read.
const minCollect = time.Second

// collect returns this node's stats, taken now unless the last were
// taken less than minCollect ago. The result is the caller's.
func (l *localStats) collect(now time.Time) sharedStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.at.IsZero() && now.Sub(l.at) < minCollect {
		return l.last
	}
	st := l.b.Stats()
	cpu := cpuTime()
	s := sharedStats{nodeStats: nodeStats{
		Node: st.Node, Version: l.version, UptimeS: int64(st.Uptime / time.Second),
		RSSBytes: rssBytes(), HeapBytes: heapBytes(),
		Connections: st.Connections, SSEConnections: st.Streams, Subscriptions: st.Subscriptions, Topics: st.Topics,
		MessagesIn: st.MessagesIn, MessagesOut: st.MessagesOut, AtMS: now.UnixMilli(),
	}}
	if !l.at.IsZero() {
		secs := now.Sub(l.at).Seconds()
		s.CPUPercent = 100 * (cpu - l.cpu).Seconds() / secs
		s.InPerS = perSecond(st.MessagesIn, l.last.MessagesIn, secs)
		s.OutPerS = perSecond(st.MessagesOut, l.last.MessagesOut, secs)
	}
	var topics int
	s.Subscribed, topics = l.b.BusiestTopics(sharedTopics)
	s.SubscribedCut = topics > len(s.Subscribed)
	s.Traffic, s.Untracked = sharedTraffic(l.b.TopicTraffic())
	l.last, l.at, l.cpu = s, now, cpu
	return s
}

func perSecond(now, before uint64, secs float64) float64 {
	if now < before || secs <= 0 {
		return 0
	}
	return float64(now-before) / secs
}

func sharedTraffic(t broker.Traffic) ([]topicTraffic, uint64) {
	out := make([]topicTraffic, len(t.Topics))
	for i, tt := range t.Topics {
		out[i] = topicTraffic{Topic: tt.Topic, Rate: tt.Rate, Epoch: tt.Epoch, Seq: tt.Seq, TimeMS: tt.Time}
	}
	return out, t.Untracked
}

// heapBytes is the Go heap in use by objects, read without stopping the
// world (runtime.ReadMemStats would).
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
