package e2e

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// options change a node from the defaults of PROTOCOL.md section 7.
type options struct {
	redisURL      string // empty: the memory engine
	redisPrefix   string
	nodeID        string
	maxQueueBytes int
	heartbeat     time.Duration
	historySize   int
}

// node is one in-process Herald node on 127.0.0.1.
type node struct {
	base string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port/ws
}

type closer interface {
	Close(ctx context.Context) error
}

// startNode assembles a node as cmd/herald does and stops it at cleanup.
func startNode(t testing.TB, o options) *node {
	t.Helper()
	log := zaptest.NewLogger(t).Named(o.nodeID)
	if o.historySize == 0 {
		o.historySize = 100
	}
	var eng interface {
		broker.Engine
		closer
	}
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
		eng = memory.New(memory.Config{HistorySize: o.historySize, HistoryTTL: 10 * time.Minute, Logger: log})
	}
	b := broker.New(broker.Config{NodeID: o.nodeID, Heartbeat: o.heartbeat, RateLimit: -1, Logger: log.Named("broker")}, eng)
	ws, err := transport.New(transport.Config{MaxQueueBytes: o.maxQueueBytes, Heartbeat: o.heartbeat, Logger: log.Named("transport")}, api.NewAcceptor(b))
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	srv := api.New(api.Config{Logger: log.Named("api")}, b, ws)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil && err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
		if err := b.Close(ctx); err != nil {
			t.Errorf("close broker: %v", err)
		}
		if err := eng.Close(ctx); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	addr := l.Addr().String()
	return &node{base: "http://" + addr, ws: "ws://" + addr + "/ws"}
}
