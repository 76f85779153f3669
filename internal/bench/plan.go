package bench

import (
	"fmt"
	"net"
	"time"
)

// Scenario names.
const (
	ScenarioIdle    = "idle"
	ScenarioFanout  = "fanout"
	ScenarioChurn   = "churn"
	ScenarioCluster = "cluster"
)

// Plan is what the parent hands a worker process on its stdin, as one JSON
// line. Connection i of the whole run (First <= i < First+Count)
// subscribes to topic i%Topics, goes to the target targetOf(i) and binds
// source address 127.0.0.(1 + i%SourceIPs).
type Plan struct {
	Scenario    string        `json:"scenario"`
	Server      string        `json:"server"` // ServerHerald or ServerCentrifugo
	Worker      int           `json:"worker"`
	Targets     []Target      `json:"targets"`
	First       int           `json:"first"`
	Count       int           `json:"count"`
	Topics      int           `json:"topics"`
	TopicPrefix string        `json:"topic_prefix"`
	SourceIPs   int           `json:"source_ips"`
	ConnectRate float64       `json:"connect_rate"` // new connections a second, this worker
	Inflight    int           `json:"inflight"`     // connection attempts at once
	OpTimeout   time.Duration `json:"op_timeout"`   // one connect, subscribe or ping
	Deadline    time.Time     `json:"deadline"`     // the worker exits by then whatever happens
	Progress    time.Duration `json:"progress"`     // how often to report

	// churn
	ChurnRate     float64       `json:"churn_rate"` // cycles a second, this worker
	ChurnDuration time.Duration `json:"churn_duration"`
}

// Topic names topic i of a run.
func (p Plan) Topic(i int) string { return fmt.Sprintf("%s%d", p.TopicPrefix, i) }

// targetOf spreads each topic's subscribers over every target: the
// subscribers of topic t are connections t, t+T, t+2T ..., and they take
// the targets in turn.
func (p Plan) targetOf(i int) Target {
	return p.Targets[(i/max(p.Topics, 1))%len(p.Targets)]
}

// sourceAddr is the local address connection i binds.
func (p Plan) sourceAddr(i int) *net.TCPAddr {
	n := max(p.SourceIPs, 1)
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte((i%n+1)>>8), byte((i%n+1)&0xFF))}
}

// Command is a line the parent sends a worker after the plan.
type Command struct {
	Cmd string `json:"cmd"` // "finish": check liveness, close, report
}

// Event is a line a worker writes on its stdout.
type Event struct {
	Type     string       `json:"type"` // "ready", "progress" or "result"
	Worker   int          `json:"worker"`
	Counters Counters     `json:"counters"`
	Result   *WorkerStats `json:"result,omitempty"`
}

// Counters are a worker's running totals, sent every progress tick.
type Counters struct {
	Open          int64  `json:"open"`
	Connected     int64  `json:"connected"`
	ConnectErrors int64  `json:"connect_errors"`
	Received      uint64 `json:"received"`
	Closed        int64  `json:"closed"`
	Errors        int64  `json:"errors"`
	Cycles        int64  `json:"cycles"`
	HeartbeatS    int64  `json:"heartbeat_s"`
}

// WorkerStats is a worker's final report.
type WorkerStats struct {
	Counters
	Alive      int64          `json:"alive"`
	PerTopic   map[int]uint64 `json:"per_topic"`
	Gaps       int64          `json:"gaps"`
	Dups       int64          `json:"dups"`
	Latency    HistData       `json:"latency"`
	ConnectLat HistData       `json:"connect_latency"`
	CycleLat   HistData       `json:"cycle_latency"`
	// PublishLat is churn's publish round trips, each from its write to
	// its published reply. A worker of an older build leaves it out, and
	// it merges as empty.
	PublishLat HistData         `json:"publish_latency"`
	ErrorKinds map[string]int64 `json:"error_kinds"`
	CPUSeconds float64          `json:"cpu_s"`
	// LastDeliveryNS is when the last message arrived, Unix ns.
	LastDeliveryNS int64 `json:"last_delivery_ns"`
	// Reads counts socket reads of subscribed connections that brought
	// data: deliveries per read shows how well the server coalesces.
	Reads int64 `json:"reads"`
	// Pings counts the server's WebSocket pings answered.
	Pings int64 `json:"pings"`
}
