package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"go.uber.org/zap"
)

// engine is a broker.Engine that can be closed; every store has Close.
type engine interface {
	broker.Engine
	Close(ctx context.Context) error
}

// newEngine picks the store: redis for a cluster when HERALD_REDIS_URL is
// set, memory for one node otherwise. The redis engine names the node in
// its own log lines; log is the root logger.
func newEngine(ctx context.Context, cfg Config, log *zap.Logger) (engine, error) {
	if cfg.RedisURL != "" {
		eng, err := redis.New(ctx, redisConfig(cfg, log))
		if err != nil {
			return nil, fmt.Errorf("start the cluster engine (HERALD_REDIS_URL): %w", err)
		}
		return eng, nil
	}
	return memory.New(memory.Config{
		HistorySize:     cfg.HistorySize,
		HistoryTTL:      cfg.HistoryTTL,
		MaxHistoryBytes: int64(cfg.MaxHistoryBytes),
		Logger:          log.With(zap.String("node", cfg.NodeID)).Named("memory"),
	}), nil
}

// redisConfig is the cluster engine's part of cfg.
func redisConfig(cfg Config, log *zap.Logger) redis.Config {
	return redis.Config{
		URL:         cfg.RedisURL,
		NodeID:      cfg.NodeID,
		HistorySize: cfg.HistorySize,
		HistoryTTL:  cfg.HistoryTTL,
		// Only these topics' subscriptions keep a place in their
		// presence change log: every other one would cost memory and
		// a read after each reconnect for nothing.
		KeepsPresence: keepsPresence(cfg.PresenceTopics),
		PresenceLapse: cfg.PresenceLapse,
		Logger:        log.Named("redis"),
	}
}

// keepsPresence is the broker's rule for which topics keep presence,
// over patterns (HERALD_PRESENCE_TOPICS).
func keepsPresence(patterns []string) func(topic string) bool {
	patterns = slices.Clone(patterns)
	return func(topic string) bool { return broker.TopicKeepsPresence(patterns, topic) }
}

// defaultNodeID is the host name plus a random suffix, so that two
// processes on one host differ.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "herald"
	}
	suffix := make([]byte, 3)
	rand.Read(suffix) // never fails (crypto/rand)
	return host + "-" + hex.EncodeToString(suffix)
}
