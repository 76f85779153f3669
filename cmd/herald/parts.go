package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/herald-broker/herald/api"
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

// errNotBuilt is a setting asking for a part this build does not have.
var errNotBuilt = errors.New("not built yet")

// newEngine picks the store: redis for a cluster when HERALD_REDIS_URL is
// set, memory for one node otherwise. The redis engine names the node in
// its own log lines; log is the root logger.
func newEngine(ctx context.Context, cfg Config, log *zap.Logger) (engine, error) {
	if cfg.RedisURL != "" {
		eng, err := redis.New(ctx, redis.Config{
			URL:         cfg.RedisURL,
			NodeID:      cfg.NodeID,
			HistorySize: cfg.HistorySize,
			HistoryTTL:  cfg.HistoryTTL,
			Logger:      log.Named("redis"),
		})
		if err != nil {
			return nil, fmt.Errorf("start the cluster engine (HERALD_REDIS_URL): %w", err)
		}
		return eng, nil
	}
	return memory.New(memory.Config{
		HistorySize: cfg.HistorySize,
		HistoryTTL:  cfg.HistoryTTL,
		Logger:      log.With(zap.String("node", cfg.NodeID)).Named("memory"),
	}), nil
}

// newTokenVerifier builds the client token checks of PROTOCOL.md section
// 5. Nil means every client is anonymous and allowed everything.
func newTokenVerifier(cfg Config) (api.TokenVerifier, error) {
	if cfg.JWTSecret != "" || cfg.JWTPublicKey != "" {
		// Refusing to start beats silently letting every client in.
		return nil, fmt.Errorf("HERALD_JWT_SECRET or HERALD_JWT_PUBLIC_KEY is set, but client tokens are %w", errNotBuilt)
	}
	return nil, nil
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
