// Package node assembles one Herald node over an engine: the broker, the
// transport, the metrics and the api server, each configured from one
// Config, and stops them in order with one Close. cmd/herald builds its
// node here and so does internal/nodetest, so a test node is the binary's
// node on another listener.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/metrics"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap"
)

// closer is an engine that holds something to give back; both stores are.
type closer interface {
	Close(ctx context.Context) error
}

// Node is one assembled node. Its parts are exported for tests and for
// what cmd/herald watches (the connection count); Close stops them.
type Node struct {
	Broker    *broker.Broker
	Transport *transport.Server
	API       *api.Server

	engine broker.Engine
	hooks  *nodeHooks // nil: no hook configured
	lag    *lagShare  // nil: the engine is no lag board, or publishers never wait

	serveOnce sync.Once
	serving   sync.WaitGroup // the goroutine Serve starts
	served    chan struct{}  // closed when that goroutine has returned
	serveErr  error          // its error; read after serving.Wait

	closeOnce sync.Once
	closeErr  error
}

// Build assembles a node over eng from cfg; log names every part's
// logger left nil (nil: no logs). From a successful Build on, eng is the
// node's: Close closes it (when it has a Close) after the broker. On an
// error nothing Build started is left running, and eng stays the
// caller's to close.
func Build(cfg Config, eng broker.Engine, log *zap.Logger) (*Node, error) {
	if err := cfg.derive(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	nameLoggers(&cfg, log)
	n := &Node{engine: eng, served: make(chan struct{})}
	var err error
	if n.hooks, err = buildHooks(&cfg, eng, log.Named("hooks")); err != nil {
		return nil, fmt.Errorf("start hooks: %w", err)
	}
	if n.Transport, err = transport.New(cfg.Transport); err != nil {
		return nil, errors.Join(fmt.Errorf("start transport: %w", err), closeNow(n.hooks.close))
	}
	// Publishes wait while the transport's loops are behind (its
	// MaxDeliveryLag), so the transport comes first.
	cfg.Broker.Backpressure = n.Transport
	n.Broker = broker.New(cfg.Broker, eng)
	if board, ok := eng.(lagBoard); ok {
		published := func() uint64 { return n.Broker.Stats().MessagesIn }
		n.lag = shareLag(board, n.Transport, n.Broker, published, log.Named("lag"))
	}
	if cfg.API.Metrics == nil {
		cfg.API.Metrics, err = metrics.New(metrics.Sources{
			Broker: n.Broker, Transport: n.Transport, Engine: eng, Version: cfg.Version, Logger: log.Named("metrics"),
			Collectors: n.hookCollectors(),
		})
		if err != nil {
			n.lag.close()
			return nil, errors.Join(fmt.Errorf("start metrics: %w", err),
				closeNow(n.Transport.Shutdown), closeNow(n.Broker.Close), closeNow(n.hooks.close))
		}
	}
	if cfg.API.OpenFiles == nil && cfg.OpenFiles != nil {
		cfg.API.OpenFiles = cfg.OpenFiles() // after the transport's descriptors
	}
	if board, ok := eng.(api.StatsBoard); ok && cfg.API.Stats == nil {
		cfg.API.Stats = board // both stores are one: /api/stats shows every node
	}
	n.API = api.New(cfg.API, n.Broker, n.Transport)
	return n, nil
}

// closeNow stops a part that has nothing to wait for yet: it holds no
// connection and no session, so its Close returns at once.
func closeNow(close func(context.Context) error) error {
	return close(context.Background())
}

func nameLoggers(cfg *Config, log *zap.Logger) {
	if cfg.Broker.Logger == nil {
		cfg.Broker.Logger = log.Named("broker")
	}
	if cfg.Transport.Logger == nil {
		cfg.Transport.Logger = log.Named("transport")
	}
	if cfg.API.Logger == nil {
		cfg.API.Logger = log.Named("api")
	}
}

// Serve serves l on a goroutine of the node's until Close; l is the
// node's from then on. Call it once, before Close.
func (n *Node) Serve(l net.Listener) {
	n.serveOnce.Do(func() {
		n.serving.Add(1)
		go func() {
			defer n.serving.Done()
			defer close(n.served)
			n.serveErr = n.API.Serve(l)
		}()
	})
}

// Served is closed when serving has ended: by Close, or on its own when
// the listener fails (Close then returns why).
func (n *Node) Served() <-chan struct{} { return n.served }

// Close stops the node within ctx, in order: the server stops accepting,
// closes every WebSocket with 1001 and finishes the HTTP requests in
// progress; then the broker closes, then the engine. It returns once
// each has stopped or ctx has ended, with every part's error, and the
// listener's if serving had failed. Later calls return the first's result.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		var errs []error
		// First: a node draining its connections is no reason for the
		// cluster's publishers to wait, and it says so no more.
		n.lag.close()
		drainCtx, cancel := drainContext(ctx)
		err := n.API.Shutdown(drainCtx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("stop serving: %w", err))
		}
		n.serving.Wait() // Serve returns at once when Shutdown starts
		if n.serveErr != nil {
			errs = append(errs, fmt.Errorf("serve: %w", n.serveErr))
		}
		if err := n.Broker.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close broker: %w", err))
		}
		if err := n.hooks.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close hooks: %w", err))
		}
		if c, ok := n.engine.(closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close engine: %w", err))
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// drainShare is the share of Close's time that serving may take to stop,
// its clients' closes among them: the rest is the broker's, the hooks'
// and the engine's, which a client that never answers close would
// otherwise leave with none, making their stop fail too. They need
// milliseconds when nothing hangs; the drain needs at most the
// transport's close timeout (5s), which three quarters of the default
// 10s shutdown timeout cover.
const drainShare = 0.75

// drainContext is ctx, ending once drainShare of the time ctx has left
// has passed.
func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(float64(time.Until(deadline))*drainShare))
}
