package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// minSecretBytes: an HS256 secret shorter than the hash (32 bytes) is
// weaker than the algorithm, and worth a warning at start.
const minSecretBytes = 32

// guards are what protect /ws and the API, built from the settings before
// anything starts, so a bad file stops the start like a bad setting.
type guards struct {
	tokens   *auth.Verifier // nil: no JWT key, every client allowed everything
	clientIP *limits.ClientIP
	conns    *limits.ConnLimiter
	probes   *limits.ConnLimiter // the pace of /metrics
	requests *limits.ConnLimiter // the pace of the requests without an API key
	accepts  *limits.ConnLimiter // the pace of the connections an address opens
	tls      *tls.Config         // nil: plain HTTP
}

// acceptsPerConnect is how many connections an address may open, counted
// at accept, for each upgrade HERALD_CONNECT_RATE_PER_IP allows it.
// Under TLS every accepted connection costs a handshake, some 0.4 ms of
// node CPU with an ECDSA P-256 certificate and 1.2 ms with RSA-2048
// (BENCHMARKS.md), five to fifteen times a plain connection answered:
// there an address may open two for each upgrade, one for the upgrade
// and one for whatever else it asks (herald.js, a request of a backend
// that does not keep its connections alive).
const (
	acceptsPerConnect    = 10
	acceptsPerConnectTLS = 2
)

func newGuards(cfg Config) (guards, error) {
	var g guards
	var err error
	if g.tokens, err = newTokenVerifier(cfg); err != nil {
		return guards{}, err
	}
	if g.clientIP, err = limits.NewClientIP(strings.Join(cfg.TrustedProxies, ",")); err != nil {
		return guards{}, fmt.Errorf("HERALD_TRUSTED_PROXIES: %w", err)
	}
	g.conns, err = limits.NewConnLimiter(limits.ConnConfig{
		MaxOpen:       cfg.MaxConnectionsPerIP,
		Rate:          cfg.ConnectRatePerIP,
		Burst:         cfg.ConnectBurstPerIP,
		CommandRate:   cfg.CommandRatePerIP,
		CommandBurst:  cfg.CommandBurstPerIP,
		QueueBytes:    cfg.MaxQueueBytesPerIP,
		Subscriptions: cfg.MaxSubscriptionsPerIP,
		ReadBytes:     cfg.MaxReadBytesPerIP,
	})
	if err != nil {
		return guards{}, fmt.Errorf("HERALD_MAX_CONNECTIONS_PER_IP, HERALD_CONNECT_RATE_PER_IP, HERALD_CONNECT_BURST_PER_IP, "+
			"HERALD_COMMAND_RATE_PER_IP, HERALD_COMMAND_BURST_PER_IP, HERALD_MAX_QUEUE_BYTES_PER_IP, HERALD_MAX_SUBSCRIPTIONS_PER_IP or HERALD_MAX_READ_BYTES_PER_IP: %w", err)
	}
	// /metrics takes the connect rate and burst, in a count of its own:
	// a scraper's requests spend none of its address's upgrades.
	g.probes, err = limits.NewConnLimiter(limits.ConnConfig{
		Rate:  cfg.ConnectRatePerIP,
		Burst: cfg.ConnectBurstPerIP,
	})
	if err != nil {
		return guards{}, fmt.Errorf("HERALD_CONNECT_RATE_PER_IP or HERALD_CONNECT_BURST_PER_IP: %w", err)
	}
	// So do the requests without an API key, in a count of their own:
	// a keep-alive connection's past it are closed after their answer.
	g.requests, err = limits.NewConnLimiter(limits.ConnConfig{
		Rate:  cfg.ConnectRatePerIP,
		Burst: cfg.ConnectBurstPerIP,
	})
	if err != nil {
		return guards{}, fmt.Errorf("HERALD_CONNECT_RATE_PER_IP or HERALD_CONNECT_BURST_PER_IP: %w", err)
	}
	if g.tls, err = newTLS(cfg); err != nil {
		return guards{}, err
	}
	// The connections an address opens, whatever they ask, at ten times
	// the connect rate and burst (twice under TLS): upgrades are limited
	// by those, and a backend's requests stay far under them, while a
	// flood of plain connections is held to some 80 µs of node CPU each,
	// 40 ms a second, and one of TLS handshakes to 40 to 120 ms a second.
	perConnect := acceptsPerConnect
	if g.tls != nil {
		perConnect = acceptsPerConnectTLS
	}
	g.accepts, err = limits.NewConnLimiter(limits.ConnConfig{
		Rate:  float64(perConnect) * cfg.ConnectRatePerIP,
		Burst: perConnect * cfg.ConnectBurstPerIP,
	})
	if err != nil {
		return guards{}, fmt.Errorf("HERALD_CONNECT_RATE_PER_IP or HERALD_CONNECT_BURST_PER_IP: %w", err)
	}
	return g, nil
}

// newTokenVerifier builds the client token checks of docs/protocol.md section
// 5 from HERALD_JWT_SECRET or the file HERALD_JWT_PUBLIC_KEY names. Nil
// means no key: every client is anonymous and allowed everything.
func newTokenVerifier(cfg Config) (*auth.Verifier, error) {
	ac := auth.Config{Secret: []byte(cfg.JWTSecret), AllowNoExp: cfg.JWTAllowNoExp}
	if cfg.JWTPublicKey != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("HERALD_JWT_PUBLIC_KEY: %w", err)
		}
		ac.PublicKeyPEM = pem
	}
	if ac.Empty() {
		return nil, nil
	}
	v, err := auth.New(ac)
	switch {
	case errors.Is(err, auth.ErrTwoKeys):
		return nil, fmt.Errorf("HERALD_JWT_SECRET and HERALD_JWT_PUBLIC_KEY: %w", err)
	case err != nil && cfg.JWTPublicKey != "":
		return nil, fmt.Errorf("HERALD_JWT_PUBLIC_KEY %s: %w", cfg.JWTPublicKey, err)
	case err != nil:
		return nil, fmt.Errorf("HERALD_JWT_SECRET: %w", err)
	}
	return v, nil
}

// newTLS loads HERALD_TLS_CERT and HERALD_TLS_KEY; nil when neither is set
// (parseConfig has made sure it is both or neither).
func newTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("HERALD_TLS_CERT and HERALD_TLS_KEY: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// brokerTokens is v as the broker's refresh check; a nil *Verifier must
// become a nil interface, which the broker reads as "no tokens".
func (g guards) brokerTokens() broker.TokenVerifier {
	if g.tokens == nil {
		return nil
	}
	return g.tokens
}

// logGuards says at start how clients are checked.
func logGuards(log *zap.Logger, cfg Config, g guards) {
	switch {
	case g.tokens == nil && cfg.ConnectURL != "":
		log.Info("no JWT key configured: the connect hook says who every client is and what it may do")
	case g.tokens == nil:
		log.Warn("no JWT key configured: every client may subscribe and publish to any topic")
	default:
		log.Info("client tokens required", zap.String("algorithm", g.tokens.Algorithm()))
		if cfg.JWTSecret != "" && len(cfg.JWTSecret) < minSecretBytes {
			log.Warn("HERALD_JWT_SECRET is short: use at least 32 random bytes",
				zap.Int("bytes", len(cfg.JWTSecret)))
		}
	}
	logHooks(log, cfg)
	log.Info("per-address limits on /ws",
		zap.Int("max_connections_per_ip", cfg.MaxConnectionsPerIP),
		zap.Float64("connect_rate_per_ip", cfg.ConnectRatePerIP),
		zap.Int("connect_burst_per_ip", cfg.ConnectBurstPerIP),
		zap.Int("command_rate_per_ip", cfg.CommandRatePerIP),
		zap.Int("command_burst_per_ip", cfg.CommandBurstPerIP),
		zap.Int("max_queue_bytes_per_ip", cfg.MaxQueueBytesPerIP),
		zap.Int("max_subscriptions_per_ip", cfg.MaxSubscriptionsPerIP),
		zap.Int("max_read_bytes_per_ip", cfg.MaxReadBytesPerIP),
		zap.Strings("trusted_proxies", cfg.TrustedProxies),
		zap.Bool("tls", g.tls != nil))
}

// logHooks says which backend hooks are on, and warns when their
// requests go unsigned: a backend then cannot tell Herald from anyone.
func logHooks(log *zap.Logger, cfg Config) {
	if cfg.ConnectURL == "" && cfg.SubscribeURL == "" && cfg.WebhookURL == "" {
		return
	}
	log.Info("backend hooks", zap.String("connect", cfg.ConnectURL), zap.String("subscribe", cfg.SubscribeURL),
		zap.Strings("subscribe_topics", cfg.SubscribeHookTopics), zap.String("webhook", cfg.WebhookURL),
		zap.Duration("timeout", cfg.HookTimeout))
	if cfg.HookSecret == "" {
		log.Warn("HERALD_HOOK_SECRET is not set: hook requests are not signed, and a backend cannot tell them from forged ones")
	}
}
