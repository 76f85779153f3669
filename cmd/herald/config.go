package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
)

// Config is every setting of docs/protocol.md section 7.
type Config struct {
	Addr             string
	NodeID           string // empty: defaultNodeID() is used
	RedisURL         string
	APIKeys          []string
	JWTSecret        string
	JWTPublicKey     string // a PEM file
	JWTAllowNoExp    bool   // accept client tokens without exp
	AllowedOrigins   []string
	HistorySize      int
	HistoryTTL       time.Duration
	MaxMessageBytes  int
	MaxSubscriptions int
	RateLimit        int
	MaxQueueBytes    int
	Heartbeat        time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         string
	LogFormat        string

	// Abuse limits and TLS (issue "tokens, permissions and abuse limits").
	MaxConnectionsPerIP      int     // open connections per client address, from accept; 0: no limit
	ConnectRatePerIP         float64 // new /ws connections per second per address; 0: no limit
	ConnectBurstPerIP        int     // new connections an address may open at once
	CommandRatePerIP         int     // commands per second of all of an address's connections; 0: no limit
	CommandBurstPerIP        int     // commands they may send at once
	MaxQueueBytesPerIP       int     // bytes queued for an address's connections that are theirs alone; 0: no limit
	MaxSubscriptionsPerIP    int     // subscriptions of all of an address's connections; 0: no limit
	MaxReadBytesPerIP        int     // read buffers an address's connections keep for frames that came in part; 0: no limit
	SocketSendBufferBytes    int     // SO_SNDBUF of every socket the node accepts; 0: the kernel's autotuning
	SocketReceiveBufferBytes int     // SO_RCVBUF of every socket the node accepts; 0: the kernel's autotuning
	MaxUpgradeBytes          int     // request line and headers of any request, /ws included
	TrustedProxies           []string
	TLSCert                  string // PEM file; set with TLSKey, or neither
	TLSKey                   string

	PresenceTopics []string      // patterns of the topics that keep presence
	PresenceLapse  time.Duration // cluster: how long a silent node's presence outlives it

	MaxHistoryBytes int // memory engine: what all topics' history may hold

	// MaxDeliveryLag is how far delivery may fall behind before publishes
	// wait; 0 here turns the wait off (transport.Config wants it negative).
	MaxDeliveryLag time.Duration

	// Backend hooks (docs/protocol.md section 11).
	ConnectURL          string
	SubscribeURL        string
	SubscribeHookTopics []string
	WebhookURL          string
	HookSecret          string
	HookTimeout         time.Duration
	WebhookVacatedDelay time.Duration

	// CompressMinBytes is the shortest message compressed for a client
	// that negotiated permessage-deflate; 0 here turns compression off
	// (node.Config wants it negative).
	CompressMinBytes int
}

// setting is one variable and its flag; set parses a value into a Config.
type setting struct {
	env, flag, def, usage string
	set                   func(c *Config, v string) error
}

// settings is the table of docs/protocol.md section 7, in its order. A default
// that a package also applies to its zero value is that package's
// constant, so the two cannot drift apart; TestConfigDefaults pins them
// to the documented numbers.
var settings = []setting{
	{"HERALD_ADDR", "addr", ":8080", "where /ws, /api/*, /healthz, /readyz and /metrics listen", setAddr},
	{"HERALD_NODE_ID", "node-id", "", "this node's name (default: host name plus a random suffix)", func(c *Config, v string) error { c.NodeID = v; return nil }},
	{"HERALD_REDIS_URL", "redis-url", "", "redis://host:port/db; every node with the same one is one cluster (default: one node, in memory)", setRedisURL},
	{"HERALD_API_KEYS", "api-keys", "", "comma-separated API keys for the HTTP API (default: loopback callers only)", func(c *Config, v string) error { c.APIKeys = splitList(v); return nil }},
	{"HERALD_JWT_SECRET", "jwt-secret", "", "HS256 key for client tokens", func(c *Config, v string) error { c.JWTSecret = v; return nil }},
	{"HERALD_JWT_PUBLIC_KEY", "jwt-public-key", "", "PEM file for RS256/ES256 client tokens", func(c *Config, v string) error { c.JWTPublicKey = v; return nil }},
	{"HERALD_JWT_ALLOW_NO_EXP", "jwt-allow-no-exp", "false", "accept client tokens that never expire (no exp claim)", boolSetting(func(c *Config, b bool) { c.JWTAllowNoExp = b })},
	{"HERALD_ALLOWED_ORIGINS", "allowed-origins", "", "comma-separated Origin values allowed on /ws (default: any)", func(c *Config, v string) error { c.AllowedOrigins = splitList(v); return nil }},
	{"HERALD_HISTORY_SIZE", "history-size", itoa(broker.DefaultHistorySize), "messages kept per topic (0 turns history off)", intSetting(0, func(c *Config, n int) { c.HistorySize = n })},
	{"HERALD_HISTORY_TTL", "history-ttl", duration(broker.DefaultHistoryTTL), "how long a topic's history outlives its last publish", durationSetting(func(c *Config, d time.Duration) { c.HistoryTTL = d })},
	{"HERALD_MAX_MESSAGE_BYTES", "max-message-bytes", itoa(broker.DefaultMaxMessageBytes), "largest data accepted, in bytes", intSetting(1, func(c *Config, n int) { c.MaxMessageBytes = n })},
	{"HERALD_MAX_SUBSCRIPTIONS", "max-subscriptions", itoa(broker.DefaultMaxSubscriptions), "subscriptions per connection", intSetting(1, func(c *Config, n int) { c.MaxSubscriptions = n })},
	{"HERALD_RATE_LIMIT", "rate-limit", itoa(broker.DefaultRateLimit), "commands per second per connection (burst: twice that); commands and pings past twice that wait unread", intSetting(1, func(c *Config, n int) { c.RateLimit = n })},
	{"HERALD_MAX_QUEUE_BYTES", "max-queue-bytes", itoa(transport.DefaultMaxQueueBytes), "bytes queued for one slow reader before close 4000", intSetting(node.MinQueueBytes, func(c *Config, n int) { c.MaxQueueBytes = n })},
	{"HERALD_SOCKET_SEND_BUFFER_BYTES", "socket-send-buffer-bytes", itoa(transport.DefaultSendBufferBytes), "SO_SNDBUF of every socket the node accepts (HTTP requests, WebSockets, SSE streams), capped by the kernel at net.core.wmem_max: the kernel holds at most twice it for a client that reads nothing, past which frames wait in the node's queue and an HTTP answer's writer waits (0: the kernel's autotuning, up to net.ipv4.tcp_wmem's maximum)", intSetting(0, func(c *Config, n int) { c.SocketSendBufferBytes = n })},
	{"HERALD_SOCKET_RECEIVE_BUFFER_BYTES", "socket-receive-buffer-bytes", itoa(transport.DefaultReceiveBufferBytes), "SO_RCVBUF of every socket the node accepts (HTTP requests, WebSockets, SSE streams), capped by the kernel at net.core.rmem_max: the kernel holds about twice it of what a client sent and the node has not read yet (past the read pace, or a request body not come to), past which TCP holds the client back (0: the kernel's autotuning, up to net.ipv4.tcp_rmem's maximum)", intSetting(0, func(c *Config, n int) { c.SocketReceiveBufferBytes = n })},
	{"HERALD_HEARTBEAT", "heartbeat", duration(broker.DefaultHeartbeat), "ping interval; silence for two of them closes with 4002", durationSetting(func(c *Config, d time.Duration) { c.Heartbeat = d })},
	{"HERALD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "10s", "on SIGTERM: stop accepting, close clients with 1001, drain", durationSetting(func(c *Config, d time.Duration) { c.ShutdownTimeout = d })},
	{"HERALD_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", oneOf(func(c *Config, v string) { c.LogLevel = v }, "debug", "info", "warn", "error")},
	{"HERALD_LOG_FORMAT", "log-format", "json", "json or console", oneOf(func(c *Config, v string) { c.LogFormat = v }, "json", "console")},
	{"HERALD_MAX_CONNECTIONS_PER_IP", "max-connections-per-ip", "1000", "open connections per client address, counted from accept (0: no limit)", intSetting(0, func(c *Config, n int) { c.MaxConnectionsPerIP = n })},
	{"HERALD_CONNECT_RATE_PER_IP", "connect-rate-per-ip", "50", "new WebSocket connections per second per client address (0: no limit)", setConnectRate},
	{"HERALD_CONNECT_BURST_PER_IP", "connect-burst-per-ip", "500", "new WebSocket connections one address may open at once before the rate holds it back", intSetting(1, func(c *Config, n int) { c.ConnectBurstPerIP = n })},
	{"HERALD_COMMAND_RATE_PER_IP", "command-rate-per-ip", "2000", "commands and pings per second of all the WebSocket connections of one client address together, on top of each one's own rate (0: no limit; unset, it is off while HERALD_MAX_CONNECTIONS_PER_IP is 0)", intSetting(0, func(c *Config, n int) { c.CommandRatePerIP = n })},
	{"HERALD_COMMAND_BURST_PER_IP", "command-burst-per-ip", "10000", "commands and pings the connections of one address may send at once before the rate holds them back", intSetting(1, func(c *Config, n int) { c.CommandBurstPerIP = n })},
	{"HERALD_MAX_QUEUE_BYTES_PER_IP", "max-queue-bytes-per-ip", itoa(defaultMaxQueueBytesPerIP), "bytes queued for all the WebSocket and SSE connections of one client address together that are theirs alone (replies, resumed history, presence pages, pongs; not fanned-out messages); past it the connection whose frame would cross it is closed with 4000 (0: no limit; unset, it is off while HERALD_MAX_CONNECTIONS_PER_IP is 0)", intSetting(0, func(c *Config, n int) { c.MaxQueueBytesPerIP = n })},
	{"HERALD_MAX_READ_BYTES_PER_IP", "max-read-bytes-per-ip", itoa(defaultMaxReadBytesPerIP), "bytes of read buffer all the WebSocket connections of one client address together make the node keep between reads, for frames that came in part and fragmented messages; past it the connection whose reader would cross it is closed with 1008 (0: no limit; unset, it is off while HERALD_MAX_CONNECTIONS_PER_IP is 0)", intSetting(0, func(c *Config, n int) { c.MaxReadBytesPerIP = n })},
	{"HERALD_MAX_SUBSCRIPTIONS_PER_IP", "max-subscriptions-per-ip", itoa(defaultMaxSubscriptionsPerIP), "subscriptions all the WebSocket connections and SSE streams of one client address hold together; past it a subscribe is answered too_many_subscriptions (0: no limit; unset, it is off while HERALD_MAX_CONNECTIONS_PER_IP is 0)", intSetting(0, func(c *Config, n int) { c.MaxSubscriptionsPerIP = n })},
	{"HERALD_MAX_UPGRADE_BYTES", "max-upgrade-bytes", itoa(api.DefaultMaxHeaderBytes), "largest request line and headers, the WebSocket upgrade request's included (431 past it)", intSetting(minUpgradeBytes, func(c *Config, n int) { c.MaxUpgradeBytes = n })},
	{"HERALD_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed (default: none)", setTrustedProxies},
	{"HERALD_TLS_CERT", "tls-cert", "", "PEM certificate file: serve wss:// and https:// (with HERALD_TLS_KEY)", func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{"HERALD_TLS_KEY", "tls-key", "", "PEM private key file of HERALD_TLS_CERT", func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{"HERALD_PRESENCE_TOPICS", "presence-topics", "", "comma-separated patterns of the topics that keep presence (default: none)", setPresenceTopics},
	{"HERALD_PRESENCE_LAPSE", "presence-lapse", duration(redis.DefaultPresenceLapse), "cluster: how long a node's presence registration outlives its last renewal (sent every third of it) before the other nodes take the node for dead and send its users' leaves; 1s to 15s; nodes may differ, each waiting for the longest", setPresenceLapse},
	{"HERALD_MAX_HISTORY_BYTES", "max-history-bytes", itoa(memory.DefaultMaxHistoryBytes), "memory engine: bytes of history kept in all topics; past it the least recently published topics lose theirs", intSetting(minHistoryBytes, func(c *Config, n int) { c.MaxHistoryBytes = n })},
	{"HERALD_CONNECT_URL", "connect-url", "", "connect hook: asked who a /ws client without a token is", urlSetting(func(c *Config, v string) { c.ConnectURL = v })},
	{"HERALD_SUBSCRIBE_URL", "subscribe-url", "", "subscribe hook: asked before a subscription to a hooked topic starts", urlSetting(func(c *Config, v string) { c.SubscribeURL = v })},
	{"HERALD_SUBSCRIBE_HOOK_TOPICS", "subscribe-hook-topics", ">", "comma-separated patterns of the topics whose subscriptions ask the subscribe hook", setSubscribeHookTopics},
	{"HERALD_WEBHOOK_URL", "webhook-url", "", "where webhook event batches are posted", urlSetting(func(c *Config, v string) { c.WebhookURL = v })},
	{"HERALD_HOOK_SECRET", "hook-secret", "", "HMAC-SHA256 key that signs every hook request (X-Herald-Signature)", func(c *Config, v string) error { c.HookSecret = v; return nil }},
	{"HERALD_HOOK_TIMEOUT", "hook-timeout", duration(hooks.DefaultTimeout), "how long one hook request may take", durationSetting(func(c *Config, d time.Duration) { c.HookTimeout = d })},
	{"HERALD_WEBHOOK_VACATED_DELAY", "webhook-vacated-delay", duration(hooks.DefaultVacatedDelay), "how long a topic stays empty before topic_vacated is sent", durationSetting(func(c *Config, d time.Duration) { c.WebhookVacatedDelay = d })},
	{"HERALD_MAX_DELIVERY_LAG", "max-delivery-lag", duration(transport.DefaultMaxDeliveryLag), "how far delivery may fall behind before publishes wait, or the event loops' longest recent pass when that is more; then 503 unavailable after ten times that, a second at least (0: never wait)", setDeliveryLag},
	{"HERALD_COMPRESS_MIN_BYTES", "compress-min-bytes", itoa(broker.DefaultCompressMinBytes), "messages this long or longer are compressed for WebSocket clients that offer permessage-deflate (0: compression off)", intSetting(0, func(c *Config, n int) { c.CompressMinBytes = n })},
}

// itoa and duration write a package's default as a setting is written.
var itoa = strconv.Itoa

func duration(d time.Duration) string {
	s := d.String() // "10m0s": the zero units are noise in --help
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// minHistoryBytes is the least HERALD_MAX_HISTORY_BYTES: below it one
// topic could not keep even 16 messages of the default size limit.
const minHistoryBytes = 16 * broker.DefaultMaxMessageBytes

// defaultMaxQueueBytesPerIP is HERALD_MAX_QUEUE_BYTES_PER_IP's default,
// 64 MiB: 64 connections of one address each holding a whole
// HERALD_MAX_QUEUE_BYTES of replies (a resume after a reconnect is at
// most that less 64 KiB) at the same moment, where one address could
// make the node hold some 800 MB before (1,000 connections that never
// read, each holding 790 KB of resumed history). HERALD_MAX_QUEUE_BYTES
// when that is larger.
const defaultMaxQueueBytesPerIP = 64 << 20

// defaultMaxReadBytesPerIP is HERALD_MAX_READ_BYTES_PER_IP's default,
// 16 MiB: 120 connections of one address each in the middle of a frame
// at the default limit (128 KiB, 139 KB of buffer as it grew), 64 at
// the worst (a fragmented message and a frame of it in part, some 256
// KiB), where one address could make the node hold some 140 MB before
// (1,000 connections each holding 139 KB of a frame sent but for its
// last bytes).
const defaultMaxReadBytesPerIP = 16 << 20

// minReadBytesPerIP is the least HERALD_MAX_READ_BYTES_PER_IP for a
// message limit: four times it, twice the frame limit, what one
// connection's reader may keep of a message at that limit coming in
// parts (its buffers grew to up to 1.23 times the frame limit), a
// fragmented one's next frame included.
func minReadBytesPerIP(maxMessageBytes int) int {
	if maxMessageBytes > math.MaxInt/4 {
		return math.MaxInt
	}
	return 4 * maxMessageBytes
}

// defaultMaxSubscriptionsPerIP is HERALD_MAX_SUBSCRIPTIONS_PER_IP's
// default: 50 subscriptions each for 1,000 clients behind one address,
// at most some 34 MB of heap (572 bytes a subscription to a topic of
// 255 bytes, and up to some 110 more in the index of a connection that
// holds 64 or more), where 1,000 connections of one address could hold
// 1,000 each, some 620 MB.
const defaultMaxSubscriptionsPerIP = 50_000

// minUpgradeBytes is the least HERALD_MAX_UPGRADE_BYTES: below it a
// browser's ordinary upgrade request, cookies and all, would be refused.
const minUpgradeBytes = 1024

// errVersion is parseConfig's answer to --version: print the version and
// exit, as for -h.
var errVersion = errors.New("herald: --version")

// parseConfig reads every setting from args (flags) and lookupEnv (the
// environment); a flag wins over its variable, and a variable that is set
// but empty counts as unset. An error names the setting that does not
// parse; flag.ErrHelp is returned for -h, after usage went to out, and
// errVersion for --version.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	fs.SetOutput(out)
	flags := make([]*string, len(settings))
	for i, s := range settings {
		flags[i] = fs.String(s.flag, "", fmt.Sprintf("%s (%s, default %q)", s.usage, s.env, s.def))
	}
	printVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if *printVersion {
		return Config{}, errVersion
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: every setting is a --flag or a HERALD_ variable", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var c Config
	set := map[string]bool{} // the settings given, by variable or flag
	for i, s := range settings {
		value, source := s.def, ""
		if v, ok := lookupEnv(s.env); ok && v != "" {
			value, source = v, s.env
		}
		if given[s.flag] {
			value, source = *flags[i], "--"+s.flag
		}
		set[s.env] = source != ""
		if err := s.set(&c, value); err != nil {
			if source == "" {
				source = s.env + " (default)"
			}
			return Config{}, fmt.Errorf("setting %s = %q: %w", source, value, err)
		}
	}
	// Per-address limits are turned off with HERALD_MAX_CONNECTIONS_PER_IP=0
	// (all clients behind one address, a load test): the command budget,
	// a per-address limit too, goes with it unless it is set itself.
	if c.MaxConnectionsPerIP == 0 && !set["HERALD_COMMAND_RATE_PER_IP"] {
		c.CommandRatePerIP = 0
	}
	if c.MaxConnectionsPerIP == 0 && !set["HERALD_MAX_QUEUE_BYTES_PER_IP"] {
		c.MaxQueueBytesPerIP = 0
	}
	// One connection alone fits its address's bound: below it, a resume
	// up to the connection's own bound could be closed 4000 each time the
	// client asks it again from where it was, whenever its socket takes
	// the resume slower than the node queues it.
	if c.MaxQueueBytesPerIP > 0 && c.MaxQueueBytesPerIP < c.MaxQueueBytes {
		c.MaxQueueBytesPerIP = c.MaxQueueBytes
	}
	if c.MaxConnectionsPerIP == 0 && !set["HERALD_MAX_SUBSCRIPTIONS_PER_IP"] {
		c.MaxSubscriptionsPerIP = 0
	}
	if c.MaxConnectionsPerIP == 0 && !set["HERALD_MAX_READ_BYTES_PER_IP"] {
		c.MaxReadBytesPerIP = 0
	}
	// One connection alone fits its address's bound too: below it, a
	// lone client's largest messages were closed 1008 each time they came
	// in parts.
	if least := minReadBytesPerIP(c.MaxMessageBytes); c.MaxReadBytesPerIP > 0 && c.MaxReadBytesPerIP < least {
		c.MaxReadBytesPerIP = least
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return Config{}, fmt.Errorf("settings HERALD_TLS_CERT (--tls-cert) and HERALD_TLS_KEY (--tls-key): set both or neither")
	}
	return c, nil
}
