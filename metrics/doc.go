// Package metrics serves Herald's counters at /metrics in the Prometheus
// text format, with the Go runtime and process collectors beside them.
//
// The broker, the transport and the redis engine keep plain atomic
// counters and import no Prometheus: a collector reads them when
// Prometheus scrapes, so a delivery or a publish never pays for a metric.
// A scrape reads each part's counters once; values of different parts are
// read a moment apart and need not agree to the message.
//
// Use: h, err := metrics.New(metrics.Sources{Broker: b, Transport: ws,
// Engine: eng}); give h to api.Config.Metrics.
package metrics
