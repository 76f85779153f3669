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
	"github.com/herald-broker/herald/internal/node"
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
// the shutdown timeout. environ is the environment in os.Environ's form;
// --version is printed to stdout, everything else goes to stderr.
// stopSignals is called once shutdown begins, so a second signal ends the
// process at once. It returns the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer, stopSignals func()) int {
	cfg, err := parseConfig(args, lookupIn(environ), stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, "herald", buildVersion())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitBadSetting
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitBadSetting
	}
	defer log.Sync()
	refusals := newRefusalLimit(refusalBurst, refusalEvery, refusalSummaryEvery)
	defer refusals.close() // before Sync: it writes the last counts
	log = log.WithOptions(zap.WrapCore(refusals.wrap))
	routeRedisLog(log)
	warnUnknownSettings(log, environ)
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

// serve builds the node, serves until ctx ends or the listener fails,
// and closes the node within the shutdown timeout.
func serve(ctx context.Context, cfg Config, g guards, root *zap.Logger, stopSignals func()) error {
	log := root.With(zap.String("node", cfg.NodeID))
	fileLimit := logOpenFileLimit(log)
	logGuards(log, cfg, g)
	eng, err := newEngine(ctx, cfg, root)
	if err != nil {
		return err
	}
	ncfg := nodeConfig(cfg, g)
	ncfg.OpenFiles = func() *limits.OpenFiles { return openFiles(log, fileLimit) }
	n, err := node.Build(ncfg, eng, log)
	if err != nil {
		return errors.Join(err, closeWithin(cfg, eng.Close))
	}
	releaser := startMemoryReleaser(n.Transport.Connections)
	defer releaser.stop()
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s (HERALD_ADDR): %w", cfg.Addr, err), closeWithin(cfg, n.Close))
	}
	log.Info("herald listening", zap.String("addr", l.Addr().String()), zap.String("version", buildVersion()),
		zap.Bool("cluster", cfg.RedisURL != ""), zap.Bool("tls", g.tls != nil))
	n.Serve(l)
	select {
	case <-ctx.Done():
		log.Info("signal received: shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	case <-n.Served(): // the listener failed on its own; Close says why
	}
	stopSignals()
	return closeWithin(cfg, n.Close)
}

// closeWithin runs close within the shutdown timeout.
func closeWithin(cfg Config, close func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return close(ctx)
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

// nodeConfig is the node's part of the settings: each fact that several
// parts read is set once, and node.Build hands it to each of them.
func nodeConfig(cfg Config, g guards) node.Config {
	return node.Config{
		NodeID:           cfg.NodeID,
		MaxMessageBytes:  cfg.MaxMessageBytes,
		Heartbeat:        cfg.Heartbeat,
		CompressMinBytes: compressMinBytes(cfg.CompressMinBytes),
		Tokens:           g.brokerTokens(), // the refresh command checks as /ws does
		Version:          buildVersion(),
		Broker: broker.Config{
			MaxSubscriptions: cfg.MaxSubscriptions,
			RateLimit:        cfg.RateLimit,
			PresenceTopics:   cfg.PresenceTopics,
		},
		Hooks: node.Hooks{
			ConnectURL:      cfg.ConnectURL,
			SubscribeURL:    cfg.SubscribeURL,
			SubscribeTopics: cfg.SubscribeHookTopics,
			WebhookURL:      cfg.WebhookURL,
			Secret:          []byte(cfg.HookSecret),
			Timeout:         cfg.HookTimeout,
			VacatedDelay:    cfg.WebhookVacatedDelay,
		},
		Transport: transport.Config{MaxQueueBytes: cfg.MaxQueueBytes, MaxDeliveryLag: deliveryLag(cfg.MaxDeliveryLag), SendBufferBytes: cfg.SocketSendBufferBytes, ReceiveBufferBytes: cfg.SocketReceiveBufferBytes},
		API: api.Config{
			APIKeys:        cfg.APIKeys,
			AllowedOrigins: cfg.AllowedOrigins,
			MaxHeaderBytes: cfg.MaxUpgradeBytes,
			ClientIP:       g.clientIP,
			Conns:          g.conns,
			Probes:         g.probes,
			Requests:       g.requests,
			Accepts:        g.accepts,
			TLS:            g.tls,
			Files:          web.Handler(),
		},
	}
}
