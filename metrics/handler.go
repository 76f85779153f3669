package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// NewRegistry returns a registry holding Herald's collector, the Go
// runtime collector and the process collector.
func NewRegistry(src Sources) (*prometheus.Registry, error) {
	if err := src.check(); err != nil {
		return nil, err
	}
	return newRegistry(src)
}

// newRegistry is NewRegistry for checked sources.
func newRegistry(src Sources) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range append([]prometheus.Collector{
		newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}, src.Collectors...) {
		if err := reg.Register(c); err != nil {
			return nil, err // a name used twice: a bug of this package
		}
	}
	return reg, nil
}

// New returns the /metrics handler over src: the Prometheus text format
// (or what the scraper negotiates), gzipped when asked. A collector that
// fails is logged and left out of that scrape; the others are served.
func New(src Sources) (http.Handler, error) {
	if err := src.check(); err != nil {
		return nil, err
	}
	reg, err := newRegistry(src)
	if err != nil {
		return nil, err
	}
	log, err := zap.NewStdLogAt(src.Logger.Named("metrics"), zap.WarnLevel)
	if err != nil {
		return nil, err // only for a level zap does not know
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      log,
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // counts its own errors as promhttp_metric_handler_errors_total
	}), nil
}
