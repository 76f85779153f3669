package hooks

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Hook names a kind of hook request, the hook label in /metrics.
type Hook string

const (
	HookConnect   Hook = "connect"
	HookSubscribe Hook = "subscribe"
	HookWebhook   Hook = "webhook"
)

// Outcome is how one hook request ended, the outcome label in /metrics.
type Outcome string

const (
	OutcomeOK      Outcome = "ok"      // the backend answered and said yes (or took a webhook batch)
	OutcomeRefused Outcome = "refused" // the backend answered no
	OutcomeTimeout Outcome = "timeout" // no answer within HERALD_HOOK_TIMEOUT
	OutcomeError   Outcome = "error"   // no connection, or a bad answer
	OutcomeLimited Outcome = "limited" // not asked: the client's address held its share of the requests in flight
	OutcomeFull    Outcome = "full"    // not asked: the node held as many requests in flight as it runs at once
)

// notSentOutcomes are the outcomes of a request the gate turned away,
// which only the hooks behind a gate (connect, subscribe) have.
var notSentOutcomes = []Outcome{OutcomeLimited, OutcomeFull}

// outcomeOf classifies a request that got no usable answer.
func outcomeOf(err error) Outcome {
	if errors.Is(err, errTimeout) {
		return OutcomeTimeout
	}
	return OutcomeError
}

// hookBuckets span a backend on the same host (sub-millisecond) to one at
// the default 3 s timeout.
var hookBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics are the hook counters of a node: requests by hook and outcome,
// their latency, and what the webhook queue dropped or delivered.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// WebhookDropped counts events refused because the queue was full;
	// WebhookDelivered those a backend took.
	webhookDropped   prometheus.Counter
	webhookDelivered prometheus.Counter
}

func newMetrics() *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hook_requests_total",
			Help: "Hook requests to the backend, by hook (connect, subscribe, webhook) and outcome (ok, refused, timeout, error; not asked: limited, the client's address held its share; full, the node held its bound).",
		}, []string{"hook", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_hook_duration_seconds",
			Help:    "How long the hook requests sent to the backend took, answered or not, by hook.",
			Buckets: hookBuckets,
		}, []string{"hook"}),
		webhookDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhook_events_dropped_total",
			Help: "Webhook events not queued because the queue was full; each is also logged.",
		}),
		webhookDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhook_events_delivered_total",
			Help: "Webhook events sent by this node that the backend answered 2xx for.",
		}),
	}
	// Every series exists from the start, so a rate over them is never
	// missing for a hook that has not been called yet.
	for _, h := range []Hook{HookConnect, HookSubscribe, HookWebhook} {
		for _, o := range []Outcome{OutcomeOK, OutcomeRefused, OutcomeTimeout, OutcomeError} {
			m.requests.WithLabelValues(string(h), string(o))
		}
		m.duration.WithLabelValues(string(h))
	}
	for _, h := range []Hook{HookConnect, HookSubscribe} { // the hooks a client's address asks
		for _, o := range notSentOutcomes {
			m.requests.WithLabelValues(string(h), string(o))
		}
	}
	return m
}

// Collectors are what a /metrics registry registers.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.webhookDropped, m.webhookDelivered}
}

func (m *Metrics) observe(h Hook, o Outcome, took time.Duration) {
	m.requests.WithLabelValues(string(h), string(o)).Inc()
	m.duration.WithLabelValues(string(h)).Observe(took.Seconds())
}

// notSent counts a request the gate turned away, by why (one of
// notSentOutcomes). It never reached the backend, so it is left out of
// the latencies, which tell how the backend answers.
func (m *Metrics) notSent(h Hook, o Outcome) {
	m.requests.WithLabelValues(string(h), string(o)).Inc()
}
