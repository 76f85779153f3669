// Package nodetest runs a whole Herald node in the test's process, built
// by internal/node as cmd/herald builds it, on 127.0.0.1:0, and closes it
// when the test ends.
package nodetest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// Options change a node from the defaults. Loggers left nil log to the
// test.
type Options struct {
	// Engine is the store; nil: a memory engine with the default history
	// (broker.DefaultHistorySize, broker.DefaultHistoryTTL). Either way
	// the node closes it when the test ends, after the broker; closing a
	// store again is harmless.
	Engine broker.Engine
	// Node is the node's settings, each shared one set once.
	Node node.Config
}

// Node is one running node.
type Node struct {
	Base      string // http://127.0.0.1:port, https:// with API.TLS
	Addr      string // 127.0.0.1:port
	WS        string // ws://127.0.0.1:port/ws, wss:// with API.TLS
	Broker    *broker.Broker
	Transport *transport.Server
	API       *api.Server
	Listener  net.Listener // the node's own, as Serve was given it
}

// stopTimeout bounds the node's Close at cleanup.
const stopTimeout = 10 * time.Second

// Start builds and serves a node; it is closed, part by part in the
// order cmd/herald closes them, when the test ends.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	log := zaptest.NewLogger(t)
	if o.Engine == nil {
		o.Engine = memory.New(memory.Config{
			HistorySize: broker.DefaultHistorySize,
			HistoryTTL:  broker.DefaultHistoryTTL,
			Logger:      log.Named("memory"),
		})
	}
	n, err := node.Build(o.Node, o.Engine, log)
	if err != nil {
		closeEngine(t, o.Engine)
		t.Fatalf("nodetest: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop(t, n)
		t.Fatal(err)
	}
	n.Serve(l)
	t.Cleanup(func() { stop(t, n) })
	tn := &Node{Addr: l.Addr().String(), Broker: n.Broker, Transport: n.Transport, API: n.API, Listener: l}
	httpScheme, wsScheme := "http://", "ws://"
	if o.Node.API.TLS != nil {
		httpScheme, wsScheme = "https://", "wss://"
	}
	tn.Base, tn.WS = httpScheme+tn.Addr, wsScheme+tn.Addr+"/ws"
	return tn
}

func stop(t testing.TB, n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("nodetest: close: %v", err)
	}
}

// closeEngine closes an engine no node took.
func closeEngine(t testing.TB, eng broker.Engine) {
	c, ok := eng.(interface{ Close(context.Context) error })
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("nodetest: close engine: %v", err)
	}
}
