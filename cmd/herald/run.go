package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/metrics"
	"github.com/herald-broker/herald/transport"
	"github.com/herald-broker/herald/web"
	"go.uber.org/zap"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailed     = 1 // could not start, or did not stop cleanly
	exitBadSetting = 2 // a setting does not parse
)

// run starts a node and serves until ctx ends, then shuts it down within
// the shutdown timeout. stopSignals is called once shutdown begins, so a
// second signal ends the process at once. It returns the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, stopSignals func()) int {
	cfg, err := parseConfig(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitBadSetting
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitBadSetting
	}
	defer log.Sync()
	if cfg.NodeID == "" {
		cfg.NodeID = defaultNodeID()
	}
	g, err := newGuards(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitBadSetting
	}
	if err := serve(ctx, cfg, g, log, stopSignals); err != nil {
		log.Error("herald stopped with an error", zap.String("node", cfg.NodeID), zap.Error(err))
		return exitFailed
	}
	log.Info("herald stopped", zap.String("node", cfg.NodeID))
	return exitOK
}

// serve builds the parts, serves until ctx ends, and stops them in order.
func serve(ctx context.Context, cfg Config, g guards, root *zap.Logger, stopSignals func()) error {
	log := root.With(zap.String("node", cfg.NodeID))
	fileLimit := logOpenFileLimit(log)
	logGuards(log, cfg, g)
	eng, err := newEngine(ctx, cfg, root)
	if err != nil {
		return err
	}
	b := broker.New(brokerConfig(cfg, g, log), eng)
	ws, err := transport.New(transportConfig(cfg, log), api.NewAcceptor(b))
	if err != nil {
		return errors.Join(fmt.Errorf("start transport: %w", err), closeCore(cfg, b, eng))
	}
	acfg := apiConfig(cfg, g, log)
	acfg.OpenFiles = openFiles(log, fileLimit)
	acfg.Metrics, err = metrics.New(metrics.Sources{Broker: b, Transport: ws, Engine: eng, Logger: log.Named("metrics")})
	if err != nil {
		return errors.Join(fmt.Errorf("start metrics: %w", err), ws.Shutdown(context.Background()), closeCore(cfg, b, eng))
	}
	srv := api.New(acfg, b, ws)
	releaser := startMemoryReleaser(ws.Connections)
	defer releaser.stop()
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		shutdownErr := shutdown(cfg, log, srv, b, eng)
		return errors.Join(fmt.Errorf("listen on %s (HERALD_ADDR): %w", cfg.Addr, err), shutdownErr)
	}
	log.Info("herald listening", zap.String("addr", l.Addr().String()), zap.Bool("cluster", cfg.RedisURL != ""), zap.Bool("tls", g.tls != nil))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var serveErr error
	serveEnded := false
	select {
	case <-ctx.Done():
		log.Info("signal received: shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	case serveErr = <-served: // the listener failed on its own
		serveEnded = true
	}
	stopSignals()
	err = shutdown(cfg, log, srv, b, eng)
	if !serveEnded {
		serveErr = <-served // Serve returns at once when Shutdown starts
	}
	return errors.Join(serveErr, err)
}

// shutdown stops accepting, closes WebSockets with 1001, finishes HTTP
// requests, then closes the broker and the engine, all within the
// shutdown timeout.
func shutdown(cfg Config, log *zap.Logger, srv *api.Server, b *broker.Broker, eng engine) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	srvErr := srv.Shutdown(ctx)
	if srvErr != nil {
		srvErr = fmt.Errorf("stop serving: %w", srvErr)
	}
	return errors.Join(srvErr, closeCoreCtx(ctx, b, eng))
}

// closeCore closes the broker and the engine within the shutdown timeout.
func closeCore(cfg Config, b *broker.Broker, eng engine) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return closeCoreCtx(ctx, b, eng)
}

func closeCoreCtx(ctx context.Context, b *broker.Broker, eng engine) error {
	var errs []error
	if err := b.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close broker: %w", err))
	}
	if err := eng.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close engine: %w", err))
	}
	return errors.Join(errs...)
}

// logOpenFileLimit raises the open-file limit, logs it, and returns the
// soft limit in force; 0 when it is not known.
func logOpenFileLimit(log *zap.Logger) uint64 {
	before, after, hard, err := raiseOpenFileLimit()
	if err != nil {
		log.Warn("open-file limit not raised", zap.Error(err))
		return after
	}
	log.Info("open-file limit", zap.Uint64("soft_before", before), zap.Uint64("soft", after), zap.Uint64("hard", hard))
	return after
}

// maxCountedFiles caps an unlimited RLIMIT_NOFILE to a count that fits.
const maxCountedFiles = 1 << 40

// openFiles counts the connections' descriptors against limit, so that
// near it /ws refuses upgrades (503) instead of answering 101 and then
// dropping the socket when transport cannot get a descriptor. Called once
// the engine and transport have opened theirs, which it counts as in use.
// Nil, with a warning, when the limit or the count is not known.
func openFiles(log *zap.Logger, limit uint64) *limits.OpenFiles {
	inUse, err := openFileCount()
	if err == nil && limit == 0 {
		err = errors.New("open-file limit unknown")
	}
	var f *limits.OpenFiles
	if err == nil {
		f, err = limits.NewOpenFiles(int(min(limit, maxCountedFiles)), inUse)
	}
	if err != nil {
		log.Warn("upgrades are not refused near the open-file limit", zap.Error(err))
		return nil
	}
	return f
}

func brokerConfig(cfg Config, g guards, log *zap.Logger) broker.Config {
	return broker.Config{
		NodeID:           cfg.NodeID,
		Heartbeat:        cfg.Heartbeat,
		MaxMessageBytes:  cfg.MaxMessageBytes,
		MaxSubscriptions: cfg.MaxSubscriptions,
		RateLimit:        cfg.RateLimit,
		Tokens:           g.brokerTokens(), // the refresh command checks as /ws does
		Logger:           log.Named("broker"),
	}
}

func transportConfig(cfg Config, log *zap.Logger) transport.Config {
	return transport.Config{
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxQueueBytes:   cfg.MaxQueueBytes,
		Heartbeat:       cfg.Heartbeat,
		Logger:          log.Named("transport"),
	}
}

func apiConfig(cfg Config, g guards, log *zap.Logger) api.Config {
	return api.Config{
		APIKeys:         cfg.APIKeys,
		AllowedOrigins:  cfg.AllowedOrigins,
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxHeaderBytes:  cfg.MaxUpgradeBytes,
		Tokens:          g.brokerTokens(),
		ClientIP:        g.clientIP,
		Conns:           g.conns,
		TLS:             g.tls,
		Files:           web.Handler(),
		Logger:          log.Named("api"),
	}
}
