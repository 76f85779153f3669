package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// options change a node from the defaults of docs/protocol.md section 7.
type options struct {
	redisURL      string // empty: the memory engine
	redisPrefix   string
	nodeID        string
	maxQueueBytes int
	heartbeat     time.Duration
	historySize   int
	closeTimeout  time.Duration // 0: transport's default, 5 s
}

// node is one in-process Herald node on 127.0.0.1.
type node struct {
	base string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port/ws
}

// startNode assembles a node as cmd/herald does; the node, engine and
// all, is closed at cleanup.
func startNode(t testing.TB, o options) *node {
	t.Helper()
	log := zaptest.NewLogger(t).Named(o.nodeID)
	if o.historySize == 0 {
		o.historySize = broker.DefaultHistorySize
	}
	var eng broker.Engine
	if o.redisURL != "" {
		e, err := redis.New(context.Background(), redis.Config{
			URL: o.redisURL, NodeID: o.nodeID, Prefix: o.redisPrefix,
			HistorySize: o.historySize, Logger: log.Named("redis"),
		})
		if err != nil {
			t.Fatalf("redis engine: %v", err)
		}
		eng = e
	} else {
		eng = memory.New(memory.Config{HistorySize: o.historySize, Logger: log})
	}
	n := nodetest.Start(t, nodetest.Options{Engine: eng, Node: heraldnode.Config{
		NodeID:    o.nodeID,
		Heartbeat: o.heartbeat,
		Broker:    broker.Config{RateLimit: -1},
		Transport: transport.Config{MaxQueueBytes: o.maxQueueBytes, CloseTimeout: o.closeTimeout},
	}})
	return &node{base: n.Base, ws: n.WS}
}
