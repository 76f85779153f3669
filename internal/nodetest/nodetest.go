// Package nodetest runs a whole Herald node in the test's process, as
// cmd/herald assembles it (engine, broker, transport, api), on 127.0.0.1:0,
// and stops it when the test ends.
package nodetest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// Options change a node's parts from their defaults. Loggers left nil log
// to the test.
type Options struct {
	// Engine is the store; nil: a memory engine with a history of 100,
	// closed with the node. A given engine is the caller's to close.
	Engine    broker.Engine
	Broker    broker.Config
	Transport transport.Config
	API       api.Config
}

// Node is one running node.
type Node struct {
	Base      string // http://127.0.0.1:port, https:// with API.TLS
	Addr      string // 127.0.0.1:port
	WS        string // ws://127.0.0.1:port/ws, wss:// with API.TLS
	Broker    *broker.Broker
	Transport *transport.Server
	API       *api.Server
}

// stopTimeout bounds each part's stop at cleanup.
const stopTimeout = 10 * time.Second

// Start assembles and serves a node; it is stopped, part by part in the
// order cmd/herald stops them, when the test ends.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	log := zaptest.NewLogger(t)
	if o.Engine == nil {
		mem := memory.New(memory.Config{HistorySize: 100, HistoryTTL: 10 * time.Minute, Logger: log.Named("memory")})
		t.Cleanup(func() { stop(t, "engine", mem.Close) })
		o.Engine = mem
	}
	if o.Broker.Logger == nil {
		o.Broker.Logger = log.Named("broker")
	}
	if o.Broker.Tokens == nil {
		o.Broker.Tokens = o.API.Tokens
	}
	b := broker.New(o.Broker, o.Engine)
	t.Cleanup(func() { stop(t, "broker", b.Close) })
	if o.Transport.Logger == nil {
		o.Transport.Logger = log.Named("transport")
	}
	ws, err := transport.New(o.Transport, api.NewAcceptor(b))
	if err != nil {
		t.Fatalf("nodetest: transport: %v", err)
	}
	if o.API.Logger == nil {
		o.API.Logger = log.Named("api")
	}
	srv := api.New(o.API, b, ws)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		stop(t, "server", srv.Shutdown)
		if err := <-served; err != nil {
			t.Errorf("nodetest: serve: %v", err)
		}
	})
	n := &Node{Addr: l.Addr().String(), Broker: b, Transport: ws, API: srv}
	httpScheme, wsScheme := "http://", "ws://"
	if o.API.TLS != nil {
		httpScheme, wsScheme = "https://", "wss://"
	}
	n.Base, n.WS = httpScheme+n.Addr, wsScheme+n.Addr+"/ws"
	return n
}

func stop(t testing.TB, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := close(ctx); err != nil {
		t.Errorf("nodetest: stop %s: %v", what, err)
	}
}
