package bench

import (
	"fmt"
	"sort"
	"strings"
)

// Report is the outcome of one run: the JSON line on stdout.
type Report struct {
	Scenario string   `json:"scenario"`
	Server   string   `json:"server"`
	URLs     []string `json:"urls"`
	// PublishURLs are the publishers' nodes when --publish-urls named them.
	PublishURLs []string `json:"publish_urls,omitempty"`
	Workers     int      `json:"workers"`
	Conns       int      `json:"conns,omitempty"`
	Topics      int      `json:"topics"`
	Publishers  int      `json:"publishers,omitempty"`
	Rate        float64  `json:"rate,omitempty"`

	Connected      int64   `json:"connected"`
	ConnectErrors  int64   `json:"connect_errors"`
	ConnectLatency Latency `json:"connect_latency"` // dial to subscribed
	ClosedByServer int64   `json:"closed_by_server"`
	ReplyErrors    int64   `json:"reply_errors"`
	HeartbeatS     int64   `json:"heartbeat_s"`
	PingsAnswered  int64   `json:"pings_answered"`
	HoldS          float64 `json:"hold_s,omitempty"`
	Alive          int64   `json:"alive,omitempty"`

	PublishS      float64 `json:"publish_s,omitempty"`
	Published     int64   `json:"published,omitempty"`
	PublishErrors int64   `json:"publish_errors,omitempty"`
	PublishedPerS float64 `json:"published_per_s,omitempty"`
	// PublishLatency is the round trip of each accepted publish: from
	// just before its request is written to its answer read (churn: the
	// WebSocket publish to its published reply). Failed publishes are in
	// PublishErrors only.
	PublishLatency Latency `json:"publish_latency"`
	// PublishAttemptedPerS is the rate offered: publishes sent, accepted
	// or not, over publish_s. Below rate, the publishers fell behind.
	PublishAttemptedPerS float64 `json:"publish_attempted_per_s,omitempty"`
	// RatePerPublisher is each publisher's share of rate.
	RatePerPublisher float64 `json:"rate_per_publisher,omitempty"`
	// PublishesBehind counts the publishes, at a rate, that began after
	// their publisher's next one was due; PublishLateMaxMS is the most
	// any began after its due time.
	PublishesBehind  int64   `json:"publishes_behind,omitempty"`
	PublishLateMaxMS float64 `json:"publish_late_max_ms,omitempty"`
	Delivered        uint64  `json:"delivered"`
	DeliveredPerS    float64 `json:"delivered_per_s,omitempty"`
	Expected         uint64  `json:"expected,omitempty"`
	Completeness     float64 `json:"completeness,omitempty"`
	WorstTopic       float64 `json:"worst_topic_completeness,omitempty"`
	ReadsPerS        float64 `json:"reads_per_s,omitempty"`
	PerRead          float64 `json:"deliveries_per_read,omitempty"`
	Gaps             int64   `json:"seq_gaps"`
	Dups             int64   `json:"seq_dups"`
	Latency          Latency `json:"latency"` // publisher's send to receipt

	ConnectsPerS float64 `json:"connects_per_s,omitempty"`
	Cycles       int64   `json:"cycles,omitempty"`
	CyclesPerS   float64 `json:"cycles_per_s,omitempty"`
	CycleLatency Latency `json:"cycle_latency"`

	WindowS                float64 `json:"window_s"`
	ServerCPUS             float64 `json:"server_cpu_s"`
	ToolCPUS               float64 `json:"tool_cpu_s"`        // parent and workers
	ToolParentCPUS         float64 `json:"tool_parent_cpu_s"` // the parent: publishers, with in-process workers
	ServerRSSBeforeKiB     int64   `json:"server_rss_before_kib,omitempty"`
	ServerRSSSubscribedKiB int64   `json:"server_rss_subscribed_kib,omitempty"`
	ServerRSSEndKiB        int64   `json:"server_rss_end_kib,omitempty"`
	RSSPerConnBytes        float64 `json:"rss_per_conn_bytes,omitempty"`
	// RSSPerConnHeldBytes is idle's steady figure: the RSS at the end of
	// the hold, every connection still open, over the connections alive.
	RSSPerConnHeldBytes float64 `json:"rss_per_conn_held_bytes,omitempty"`

	// RedisBytesIn is, by server pid, what its connections to --redis
	// received while publishing and draining; RedisBytesError says why
	// it could not be read.
	RedisBytesIn    map[string]int64 `json:"redis_bytes_in,omitempty"`
	RedisBytesError string           `json:"redis_bytes_error,omitempty"`

	ErrorKinds map[string]int64 `json:"error_kinds"`
	startNS    int64
}

func newReport(cfg Config) *Report {
	r := &Report{Scenario: cfg.Scenario, Server: cfg.Server, Topics: cfg.Topics, Rate: cfg.Rate}
	for _, t := range cfg.Targets {
		r.URLs = append(r.URLs, t.URL)
	}
	if cfg.Scenario != ScenarioChurn {
		r.Conns = cfg.Conns
	}
	if cfg.usesPublishers() {
		r.Publishers = cfg.Publishers
	}
	if !sameTargets(cfg.PublishTargets, cfg.Targets) {
		for _, t := range cfg.PublishTargets {
			r.PublishURLs = append(r.PublishURLs, t.URL)
		}
	}
	return r
}

// fill computes the figures from the workers' merged results.
func (r *Report) fill(cfg Config, m WorkerStats, pubs *publishers) {
	r.Connected, r.ConnectErrors = m.Connected, m.ConnectErrors
	r.ConnectLatency = m.ConnectLat.Summary()
	r.ClosedByServer, r.ReplyErrors, r.HeartbeatS = m.Closed, m.Errors, m.HeartbeatS
	r.Delivered, r.Gaps, r.Dups = m.Received, m.Gaps, m.Dups
	r.Latency, r.CycleLatency = m.Latency.Summary(), m.CycleLat.Summary()
	r.PublishLatency = m.PublishLat.Summary()
	r.ErrorKinds, r.PingsAnswered = m.ErrorKinds, m.Pings
	if cfg.Scenario == ScenarioIdle {
		r.Alive = m.Alive
	}
	if cfg.Scenario == ScenarioChurn {
		r.Cycles = m.Cycles
		r.CyclesPerS = perSecond(float64(m.Cycles), r.WindowS)
		r.ConnectsPerS = perSecond(float64(m.Connected), r.WindowS)
	}
	if r.ServerRSSSubscribedKiB > 0 && r.Connected > 0 {
		r.RSSPerConnBytes = float64(r.ServerRSSSubscribedKiB-r.ServerRSSBeforeKiB) * 1024 / float64(r.Connected)
	}
	if cfg.Scenario == ScenarioIdle && r.ServerRSSEndKiB > 0 && r.Alive > 0 {
		r.RSSPerConnHeldBytes = float64(r.ServerRSSEndKiB-r.ServerRSSBeforeKiB) * 1024 / float64(r.Alive)
	}
	if pubs != nil {
		r.fillFanout(cfg, m, pubs)
	}
}

func (r *Report) fillFanout(cfg Config, m WorkerStats, pubs *publishers) {
	r.Published, r.PublishErrors = pubs.ok.Load(), pubs.failed.Load()
	for k, n := range pubs.kinds.snapshot() {
		r.ErrorKinds[k] += n
	}
	r.PublishedPerS = perSecond(float64(r.Published), r.PublishS)
	r.PublishAttemptedPerS = perSecond(float64(r.Published+r.PublishErrors), r.PublishS)
	r.PublishLatency = pubs.roundTrip.Snapshot().Summary()
	r.RatePerPublisher = cfg.perPublisherRate()
	r.PublishesBehind = pubs.behind.Load()
	r.PublishLateMaxMS = float64(pubs.lateMax.Load()) / 1e6
	r.Expected = expectedDeliveries(cfg, pubs)
	if r.Expected > 0 {
		r.Completeness = float64(r.Delivered) / float64(r.Expected)
	}
	r.WorstTopic = 1
	for t := range pubs.perTopic {
		want := pubs.perTopic[t].Load() * uint64(subscribersOf(cfg, t))
		if want > 0 {
			r.WorstTopic = min(r.WorstTopic, float64(m.PerTopic[t])/float64(want))
		}
	}
	// Deliveries run from the first publish to the last arrival, which
	// may be after publishing stopped when the server fell behind.
	if m.Reads > 0 {
		r.PerRead = float64(r.Delivered) / float64(m.Reads)
	}
	if m.LastDeliveryNS > r.startNS {
		r.ReadsPerS = perSecond(float64(m.Reads), float64(m.LastDeliveryNS-r.startNS)/1e9)
		r.DeliveredPerS = perSecond(float64(r.Delivered), float64(m.LastDeliveryNS-r.startNS)/1e9)
	}
}

func perSecond(n, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return n / s
}

// Human is the summary for people.
func (r *Report) Human() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("herald-bench %s against %s at %s (%d worker processes)", r.Scenario, r.Server, strings.Join(r.URLs, ", "), r.Workers)
	if len(r.PublishURLs) > 0 {
		p("  publishers post to %s", strings.Join(r.PublishURLs, ", "))
	}
	if r.Scenario != ScenarioChurn {
		p("  connections: %d of %d connected, %d failed; connect+subscribe %s", r.Connected, r.Conns, r.ConnectErrors, latLine(r.ConnectLatency))
	}
	p("  closed by the server: %d; error replies: %d; heartbeat %ds, %d pings answered", r.ClosedByServer, r.ReplyErrors, r.HeartbeatS, r.PingsAnswered)
	switch r.Scenario {
	case ScenarioIdle:
		p("  held %.1fs; alive at the end: %d of %d", r.HoldS, r.Alive, r.Connected)
	case ScenarioChurn:
		p("  connects: %d (%.0f/s), %d failed; connect+subscribe %s", r.Connected, r.ConnectsPerS, r.ConnectErrors, latLine(r.ConnectLatency))
		p("  cycles completed: %d (%.0f/s)", r.Cycles, r.CyclesPerS)
		p("  whole cycle %s", latLine(r.CycleLatency))
		p("  publish round trip (WebSocket publish to its published reply) %s", latLine(r.PublishLatency))
	default:
		p("  published: %d in %.1fs (%.0f/s), %d failed", r.Published, r.PublishS, r.PublishedPerS, r.PublishErrors)
		r.rateLines(p)
		p("  publish round trip (request written to answer read, accepted publishes) %s", latLine(r.PublishLatency))
		p("  delivered: %d of %d expected (completeness %.6f, worst topic %.6f), %.0f/s", r.Delivered, r.Expected, r.Completeness, r.WorstTopic, r.DeliveredPerS)
		p("  %.1f deliveries per socket read (%.0f reads/s)", r.PerRead, r.ReadsPerS)
		p("  seq gaps %d, duplicates %d; latency %s", r.Gaps, r.Dups, latLine(r.Latency))
	}
	p("  CPU over %.1fs: server %.2fs (%.0f%% of a core), tool %.2fs (%.0f%%; parent %.2fs)", r.WindowS,
		r.ServerCPUS, 100*perSecond(r.ServerCPUS, r.WindowS), r.ToolCPUS, 100*perSecond(r.ToolCPUS, r.WindowS), r.ToolParentCPUS)
	switch {
	case r.ServerRSSBeforeKiB > 0 && r.Scenario == ScenarioChurn:
		p("  server RSS: %d KiB before, %d KiB at the end", r.ServerRSSBeforeKiB, r.ServerRSSEndKiB)
	case r.ServerRSSBeforeKiB > 0 && r.Scenario == ScenarioIdle:
		p("  server RSS: %d KiB before, %d KiB subscribed, %d KiB after the hold; %.0f bytes per connection subscribed, %.0f after the hold",
			r.ServerRSSBeforeKiB, r.ServerRSSSubscribedKiB, r.ServerRSSEndKiB, r.RSSPerConnBytes, r.RSSPerConnHeldBytes)
	case r.ServerRSSBeforeKiB > 0:
		p("  server RSS: %d KiB before, %d KiB subscribed, %d KiB at the end; %.0f bytes per connection",
			r.ServerRSSBeforeKiB, r.ServerRSSSubscribedKiB, r.ServerRSSEndKiB, r.RSSPerConnBytes)
	}
	r.redisLines(p)
	if len(r.ErrorKinds) > 0 {
		p("  errors: %s", kindsLine(r.ErrorKinds))
	}
	return b.String()
}

// rateLines say how the publishers were paced and whether they kept the
// asked rate.
func (r *Report) rateLines(p func(string, ...any)) {
	if r.Rate <= 0 {
		p("  %d publishers, closed loop (each sends when its last publish is answered): %.0f publishes/s attempted",
			r.Publishers, r.PublishAttemptedPerS)
		return
	}
	p("  rate asked %.0f/s in all (%.2f/s for each of %d publishers, one publish in flight each); achieved %.0f/s attempted (%.1f%%)",
		r.Rate, r.RatePerPublisher, r.Publishers, r.PublishAttemptedPerS, 100*r.PublishAttemptedPerS/r.Rate)
	p("  %d publishes began after their publisher's next was due; the latest began %.2fms after its due time",
		r.PublishesBehind, r.PublishLateMaxMS)
	if r.PublishAttemptedPerS < 0.99*r.Rate {
		p("  the publishers did not keep the asked rate: answers took longer than publishers/rate (%.2fms); give more --publishers",
			1000/r.RatePerPublisher)
	}
}

// redisLines say what each server read from Redis, in all and a publish.
func (r *Report) redisLines(p func(string, ...any)) {
	if r.RedisBytesError != "" {
		p("  bytes read from Redis: not counted: %s", r.RedisBytesError)
	}
	pids := make([]string, 0, len(r.RedisBytesIn))
	for pid := range r.RedisBytesIn {
		pids = append(pids, pid)
	}
	sort.Strings(pids)
	for _, pid := range pids {
		n := r.RedisBytesIn[pid]
		p("  bytes read from Redis by pid %s while publishing and draining: %d (%.1f a publish)", pid, n, perSecond(float64(n), float64(r.Published)))
	}
}

func sameTargets(a, b []Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].URL != b[i].URL {
			return false
		}
	}
	return true
}

func latLine(l Latency) string {
	return fmt.Sprintf("p50 %.2fms p90 %.2fms p99 %.2fms p999 %.2fms max %.2fms (n=%d)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
}

func kindsLine(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
