package metrics

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// BrokerStats is what the metrics read of a broker; *broker.Broker has it.
type BrokerStats interface {
	Stats() broker.Stats
	PublishLatency() broker.Histogram
}

// TransportStats is what the metrics read of a transport; *transport.Server
// has it.
type TransportStats interface {
	Stats() transport.Stats
}

// RedisStats is the optional engine capability behind herald_redis_*;
// *redis.Engine has it.
type RedisStats interface {
	Stats() redis.Stats
}

// Sources are the parts whose counters are exported.
type Sources struct {
	Broker    BrokerStats    // required
	Transport TransportStats // required
	// Engine is the node's engine: when it has RedisStats (MemoryStats)
	// the Redis (memory engine) metrics are exported, otherwise they do
	// not exist. Nil: none.
	Engine any
	// Version is herald_build_info's version label; empty: the main
	// module's version from the build, "(devel)" in a build from a checkout.
	Version string
	// Collectors are registered beside Herald's own: parts that keep
	// their metrics as Prometheus collectors (api/hooks).
	Collectors []prometheus.Collector
	// Logger gets the errors of a scrape; nil: none.
	Logger *zap.Logger
}

// ErrSources prefixes every missing or unusable source.
var ErrSources = errors.New("herald/metrics: bad sources")

func (s *Sources) check() error {
	switch {
	case s.Broker == nil:
		return fmt.Errorf("%w: Broker is nil", ErrSources)
	case s.Transport == nil:
		return fmt.Errorf("%w: Transport is nil", ErrSources)
	}
	if s.Version == "" {
		s.Version = buildVersion()
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	return nil
}

// redisStats returns the engine's Redis counters, or nil when it has none.
func (s *Sources) redisStats() RedisStats {
	rs, _ := s.Engine.(RedisStats)
	return rs
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
