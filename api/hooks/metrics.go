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
	OutcomeError   Outcome = "error"   // no connection, a bad answer, or a node too busy to ask
	OutcomeLimited Outcome = "limited" // not asked: the client's address held its share of the requests in flight
)

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
			Help: "Hook requests to the backend, by hook (connect, subscribe, webhook) and outcome (ok, refused, timeout, error; limited: not asked, the client's address held its share).",
		}, []string{"hook", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_hook_duration_seconds",
			Help:    "How long hook requests took, answered or not, by hook.",
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
		m.requests.WithLabelValues(string(h), string(OutcomeLimited))
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

// limited counts a request not made because its client's address held its
// share: it took no time, and is left out of the latencies.
func (m *Metrics) limited(h Hook) {
	m.requests.WithLabelValues(string(h), string(OutcomeLimited)).Inc()
}
