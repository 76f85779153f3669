package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// checkPublishLatency asserts that every accepted publish, and only those,
// has its round trip in the histogram, and that its percentiles are
// ordered and none is below floor.
func checkPublishLatency(t *testing.T, r *Report, floor time.Duration) {
	t.Helper()
	l := r.PublishLatency
	if r.Published == 0 || l.Count != uint64(r.Published) {
		t.Fatalf("publish round trips counted %d, published %d", l.Count, r.Published)
	}
	ms := float64(floor) / float64(time.Millisecond)
	if l.P50 < ms || !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("publish round trip %+v: want p50 ≥ %vms and percentiles in order", l, ms)
	}
	if !strings.Contains(r.Human(), "publish round trip") {
		t.Errorf("the summary does not show the publish round trip:\n%s", r.Human())
	}
}

// A server that answers each publish 2 ms after taking it cannot have a
// round trip under 2 ms; the delivery latency is measured apart.
func TestPublishRoundTripOfASlowServer(t *testing.T) {
	hub := newFakeHub(t)
	hub.publishDelay = 2 * time.Millisecond
	r := runScenario(t, "fanout", "--url", hub.serve(), "--conns", "4", "--topics", "2",
		"--publishers", "2", "--duration", "300ms")
	checkPublishLatency(t, r, 2*time.Millisecond)
	if r.PublishAttemptedPerS < r.PublishedPerS || r.RatePerPublisher != 0 {
		t.Errorf("attempted %v/s, published %v/s, per publisher %v in a closed loop", r.PublishAttemptedPerS, r.PublishedPerS, r.RatePerPublisher)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var fields struct {
		PublishLatency map[string]float64 `json:"publish_latency"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"count", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"} {
		if _, ok := fields.PublishLatency[k]; !ok {
			t.Errorf("JSON publish_latency has no %s: %s", k, raw)
		}
	}
}

// Refused publishes are counted as failures and never timed.
func TestPublishRoundTripLeavesRefusedOut(t *testing.T) {
	hub := newFakeHub(t)
	r := runScenario(t, "fanout", "--url", hub.serve(), "--conns", "2", "--topic-prefix", "forbidden.",
		"--publishers", "1", "--rate", "50", "--duration", "200ms", "--drain", "0s")
	if r.PublishErrors == 0 || r.PublishLatency.Count != 0 {
		t.Errorf("%d refused, %d round trips timed; want refusals and none timed", r.PublishErrors, r.PublishLatency.Count)
	}
}

// --rate is the total over all publishers, on the --publish-urls node in
// the cluster scenario; publishers that cannot keep it are reported as
// behind, with the rate they achieved. 2 publishers whose every publish
// takes at least 20 ms cannot send more than 50 a second each.
func TestClusterRateIsTotalAndShortfallIsReported(t *testing.T) {
	hub := newFakeHub(t)
	hub.publishDelay = 20 * time.Millisecond
	subNode, pubNode := hub.serve(), hub.serve()
	r := runScenario(t, "cluster", "--urls", subNode, "--publish-urls", pubNode, "--conns", "4", "--topics", "2",
		"--publishers", "2", "--rate", "1000", "--duration", "500ms")
	checkPublishLatency(t, r, 20*time.Millisecond)
	if r.Rate != 1000 || r.RatePerPublisher != 500 {
		t.Errorf("rate %v, per publisher %v; want 1000 in all, 500 each", r.Rate, r.RatePerPublisher)
	}
	if r.PublishAttemptedPerS >= 1000 || r.PublishesBehind == 0 || r.PublishLateMaxMS <= 0 {
		t.Errorf("attempted %v/s, %d behind, late by up to %vms; want the shortfall reported", r.PublishAttemptedPerS, r.PublishesBehind, r.PublishLateMaxMS)
	}
	if h := r.Human(); !strings.Contains(h, "did not keep the asked rate") {
		t.Errorf("the summary does not say the rate was missed:\n%s", h)
	}
	if r.Completeness != 1 {
		t.Errorf("completeness %v", r.Completeness)
	}
}

// Against a real node: publishers on one, the round trip of each accepted
// publish is timed.
func TestPublishRoundTripAgainstARealNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{NodeID: "bench", API: api.Config{APIKeys: []string{"k"}}}})
	r := runScenario(t, "fanout", "--url", n.WS, "--api-key", "k", "--conns", "10", "--topics", "5",
		"--publishers", "2", "--rate", "200", "--duration", "300ms")
	checkPublishLatency(t, r, 0)
	if r.PublishErrors != 0 || r.Completeness != 1 {
		t.Errorf("%d publishes failed (%v), completeness %v", r.PublishErrors, r.ErrorKinds, r.Completeness)
	}
}

// The load in small: two real nodes on one Redis, subscribers on
// A, publishers at a total rate on B; every accepted publish is timed and
// every message crosses to A.
func TestClusterRateAcrossRealNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodeOn := func(id string) *nodetest.Node {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eng, err := redis.New(ctx, redis.Config{URL: srv.URL(), NodeID: id, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return nodetest.Start(t, nodetest.Options{Engine: eng, Node: node.Config{NodeID: id, API: api.Config{APIKeys: []string{"k"}}}})
	}
	a, b := nodeOn("node-a"), nodeOn("node-b")
	r := runScenario(t, "cluster", "--urls", a.WS, "--publish-urls", b.WS, "--api-key", "k", "--conns", "10", "--topics", "5",
		"--publishers", "4", "--rate", "400", "--duration", "500ms")
	checkPublishLatency(t, r, 0)
	if r.RatePerPublisher != 100 || r.PublishAttemptedPerS <= 0 {
		t.Errorf("per publisher %v, attempted %v/s; want 100 each of 400 in all", r.RatePerPublisher, r.PublishAttemptedPerS)
	}
	if r.PublishErrors != 0 || r.Completeness != 1 || r.Gaps != 0 {
		t.Errorf("%d publishes failed (%v), completeness %v, gaps %d", r.PublishErrors, r.ErrorKinds, r.Completeness, r.Gaps)
	}
}

// Churn publishes over the WebSocket: each completed cycle timed its
// publish to the published reply.
func TestChurnTimesItsPublishes(t *testing.T) {
	r := runScenario(t, "churn", "--url", newFakeHub(t).serve(), "--rate", "40", "--duration", "300ms")
	if r.Cycles == 0 || r.PublishLatency.Count != uint64(r.Cycles) {
		t.Errorf("%d cycles, %d publish round trips", r.Cycles, r.PublishLatency.Count)
	}
}

// A worker's result without publish_latency (one that never publishes)
// merges with one that has it: the field is optional on the wire.
func TestWorkerResultWithoutPublishLatencyMerges(t *testing.T) {
	var without, with WorkerStats
	if err := json.Unmarshal([]byte(`{"received":3,"latency":{"buckets":{"5":3},"max_us":5}}`), &without); err != nil {
		t.Fatal(err)
	}
	var h Histogram
	h.Record(2 * time.Millisecond)
	with.PublishLat = h.Snapshot()
	m := WorkerStats{PerTopic: map[int]uint64{}, ErrorKinds: map[string]int64{}}
	mergeStats(&m, &without)
	mergeStats(&m, &with)
	if m.PublishLat.Count() != 1 || m.Latency.Count() != 3 || m.PublishLat.Summary().P50 < 2 {
		t.Errorf("merged publish round trips %+v, deliveries %d", m.PublishLat.Summary(), m.Latency.Count())
	}
}
