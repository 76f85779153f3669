package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every setting, each by a case of its own: read from the environment and
// from its flag, the flag winning, and a bad value refused by name.

// settingCase is one setting with a value that parses, what it parses to,
// and a value that does not.
type settingCase struct {
	env, flag, good string
	bad             string // "" when every value is accepted
	check           func(Config) any
	want            any
}

var settingCases = []settingCase{
	{"HERALD_ADDR", "addr", "127.0.0.1:9000", "9000", func(c Config) any { return c.Addr }, "127.0.0.1:9000"},
	{"HERALD_NODE_ID", "node-id", "n1", "", func(c Config) any { return c.NodeID }, "n1"},
	{"HERALD_REDIS_URL", "redis-url", "redis://127.0.0.1:6379/0", "http://x", func(c Config) any { return c.RedisURL }, "redis://127.0.0.1:6379/0"},
	{"HERALD_API_KEYS", "api-keys", "k1, k2,", "", func(c Config) any { return c.APIKeys }, []string{"k1", "k2"}},
	{"HERALD_JWT_SECRET", "jwt-secret", "s3cret", "", func(c Config) any { return c.JWTSecret }, "s3cret"},
	{"HERALD_JWT_PUBLIC_KEY", "jwt-public-key", "/etc/key.pem", "", func(c Config) any { return c.JWTPublicKey }, "/etc/key.pem"},
	{"HERALD_JWT_ALLOW_NO_EXP", "jwt-allow-no-exp", "true", "yes", func(c Config) any { return c.JWTAllowNoExp }, true},
	{"HERALD_ALLOWED_ORIGINS", "allowed-origins", "https://a.example,https://b.example", "", func(c Config) any { return c.AllowedOrigins }, []string{"https://a.example", "https://b.example"}},
	{"HERALD_HISTORY_SIZE", "history-size", "0", "-1", func(c Config) any { return c.HistorySize }, 0},
	{"HERALD_HISTORY_TTL", "history-ttl", "90s", "ten", func(c Config) any { return c.HistoryTTL }, 90 * time.Second},
	{"HERALD_MAX_MESSAGE_BYTES", "max-message-bytes", "1024", "0", func(c Config) any { return c.MaxMessageBytes }, 1024},
	{"HERALD_MAX_SUBSCRIPTIONS", "max-subscriptions", "7", "many", func(c Config) any { return c.MaxSubscriptions }, 7},
	{"HERALD_RATE_LIMIT", "rate-limit", "50", "1.5", func(c Config) any { return c.RateLimit }, 50},
	// 10000 parses, but is under node.MinQueueBytes: refused here, with
	// the exit status of a setting that does not parse, not by the node.
	{"HERALD_MAX_QUEUE_BYTES", "max-queue-bytes", "16384", "10000", func(c Config) any { return c.MaxQueueBytes }, 16384},
	{"HERALD_SOCKET_SEND_BUFFER_BYTES", "socket-send-buffer-bytes", "0", "-1", func(c Config) any { return c.SocketSendBufferBytes }, 0},
	{"HERALD_SOCKET_RECEIVE_BUFFER_BYTES", "socket-receive-buffer-bytes", "0", "-1", func(c Config) any { return c.SocketReceiveBufferBytes }, 0},
	{"HERALD_HEARTBEAT", "heartbeat", "5s", "5", func(c Config) any { return c.Heartbeat }, 5 * time.Second},
	{"HERALD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "2s", "-2s", func(c Config) any { return c.ShutdownTimeout }, 2 * time.Second},
	{"HERALD_LOG_LEVEL", "log-level", "debug", "loud", func(c Config) any { return c.LogLevel }, "debug"},
	{"HERALD_LOG_FORMAT", "log-format", "console", "xml", func(c Config) any { return c.LogFormat }, "console"},
	{"HERALD_MAX_CONNECTIONS_PER_IP", "max-connections-per-ip", "0", "-1", func(c Config) any { return c.MaxConnectionsPerIP }, 0},
	{"HERALD_CONNECT_RATE_PER_IP", "connect-rate-per-ip", "2.5", "fast", func(c Config) any { return c.ConnectRatePerIP }, 2.5},
	{"HERALD_CONNECT_BURST_PER_IP", "connect-burst-per-ip", "20", "0", func(c Config) any { return c.ConnectBurstPerIP }, 20},
	{"HERALD_COMMAND_RATE_PER_IP", "command-rate-per-ip", "0", "2.5", func(c Config) any { return c.CommandRatePerIP }, 0},
	{"HERALD_COMMAND_BURST_PER_IP", "command-burst-per-ip", "300", "0", func(c Config) any { return c.CommandBurstPerIP }, 300},
	{"HERALD_MAX_QUEUE_BYTES_PER_IP", "max-queue-bytes-per-ip", "0", "-1", func(c Config) any { return c.MaxQueueBytesPerIP }, 0},
	{"HERALD_MAX_READ_BYTES_PER_IP", "max-read-bytes-per-ip", "1000000", "-1", func(c Config) any { return c.MaxReadBytesPerIP }, 1000000},
	{"HERALD_MAX_SUBSCRIPTIONS_PER_IP", "max-subscriptions-per-ip", "10", "-1", func(c Config) any { return c.MaxSubscriptionsPerIP }, 10},
	{"HERALD_MAX_UPGRADE_BYTES", "max-upgrade-bytes", "8192", "100", func(c Config) any { return c.MaxUpgradeBytes }, 8192},
	{"HERALD_TRUSTED_PROXIES", "trusted-proxies", "10.0.0.0/8, ::1", "10.0.0.0/33", func(c Config) any { return c.TrustedProxies }, []string{"10.0.0.0/8", "::1"}},
	// The TLS files are read at start (TestRunTLSFiles); here each is set
	// with the other, as one alone is refused.
	{"HERALD_TLS_CERT", "tls-cert", "/etc/cert.pem", "", func(c Config) any { return c.TLSCert }, "/etc/cert.pem"},
	{"HERALD_TLS_KEY", "tls-key", "/etc/key.pem", "", func(c Config) any { return c.TLSKey }, "/etc/key.pem"},
	{"HERALD_PRESENCE_TOPICS", "presence-topics", "room.*, lobby", "room..1", func(c Config) any { return c.PresenceTopics }, []string{"room.*", "lobby"}},
	{"HERALD_PRESENCE_LAPSE", "presence-lapse", "3s", "16s", func(c Config) any { return c.PresenceLapse }, 3 * time.Second},
	{"HERALD_MAX_HISTORY_BYTES", "max-history-bytes", "1048576", "65536", func(c Config) any { return c.MaxHistoryBytes }, 1048576},
	{"HERALD_CONNECT_URL", "connect-url", "http://app:3000/herald/connect", "ftp://x", func(c Config) any { return c.ConnectURL }, "http://app:3000/herald/connect"},
	{"HERALD_SUBSCRIBE_URL", "subscribe-url", "https://app/sub", "app/sub", func(c Config) any { return c.SubscribeURL }, "https://app/sub"},
	{"HERALD_SUBSCRIBE_HOOK_TOPICS", "subscribe-hook-topics", "room.>, private.*", "room..x", func(c Config) any { return c.SubscribeHookTopics }, []string{"room.>", "private.*"}},
	{"HERALD_WEBHOOK_URL", "webhook-url", "http://127.0.0.1:9/events", "http://", func(c Config) any { return c.WebhookURL }, "http://127.0.0.1:9/events"},
	{"HERALD_HOOK_SECRET", "hook-secret", "s", "", func(c Config) any { return c.HookSecret }, "s"},
	{"HERALD_HOOK_TIMEOUT", "hook-timeout", "250ms", "0s", func(c Config) any { return c.HookTimeout }, 250 * time.Millisecond},
	{"HERALD_WEBHOOK_VACATED_DELAY", "webhook-vacated-delay", "1m", "soon", func(c Config) any { return c.WebhookVacatedDelay }, time.Minute},
	{"HERALD_MAX_DELIVERY_LAG", "max-delivery-lag", "0", "-1s", func(c Config) any { return c.MaxDeliveryLag }, time.Duration(0)},
	{"HERALD_COMPRESS_MIN_BYTES", "compress-min-bytes", "0", "-1", func(c Config) any { return c.CompressMinBytes }, 0},
}

// pairedWith is the setting another must be set with, and its value.
var pairedWith = map[string][2]string{
	"HERALD_TLS_CERT": {"HERALD_TLS_KEY", "/etc/other-key.pem"},
	"HERALD_TLS_KEY":  {"HERALD_TLS_CERT", "/etc/other-cert.pem"},
}

// withPair adds to env the setting tc's one must be set with.
func withPair(tc settingCase, env map[string]string) map[string]string {
	if p, ok := pairedWith[tc.env]; ok {
		if env == nil {
			env = map[string]string{}
		}
		env[p[0]] = p[1]
	}
	return env
}

func TestEverySettingHasACase(t *testing.T) {
	if len(settingCases) != len(settings) {
		t.Fatalf("%d settings but %d test cases", len(settings), len(settingCases))
	}
	for i, s := range settings {
		if settingCases[i].env != s.env || settingCases[i].flag != s.flag {
			t.Errorf("case %d is %s/--%s, setting is %s/--%s", i, settingCases[i].env, settingCases[i].flag, s.env, s.flag)
		}
	}
}

func TestSettingFromEnv(t *testing.T) {
	for _, tc := range settingCases {
		t.Run(tc.env, func(t *testing.T) {
			c, err := parseConfig(nil, envOf(withPair(tc, map[string]string{tc.env: tc.good})), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSettingFromFlag(t *testing.T) {
	for _, tc := range settingCases {
		t.Run(tc.flag, func(t *testing.T) {
			c, err := parseConfig([]string{"--" + tc.flag, tc.good}, envOf(withPair(tc, nil)), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	for _, tc := range settingCases {
		t.Run(tc.flag, func(t *testing.T) {
			env := envOf(withPair(tc, map[string]string{tc.env: otherValue(tc)}))
			c, err := parseConfig([]string{"--" + tc.flag + "=" + tc.good}, env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want the flag's %v", got, tc.want)
			}
		})
	}
}

// otherValue is a valid value of tc's setting different from tc.good.
func otherValue(tc settingCase) string {
	others := map[string]string{
		"addr": ":7000", "redis-url": "redis://10.0.0.1:6379/1", "history-ttl": "1h",
		"heartbeat": "1m", "shutdown-timeout": "30s", "log-level": "error", "log-format": "json",
		"history-size": "5", "max-message-bytes": "99", "max-subscriptions": "99",
		"rate-limit": "99", "max-queue-bytes": "99",
		"max-connections-per-ip": "7", "connect-rate-per-ip": "7", "connect-burst-per-ip": "7",
		"max-upgrade-bytes": "4096", "trusted-proxies": "192.0.2.1", "max-history-bytes": "2097152", "jwt-allow-no-exp": "false",
	}
	if v, ok := others[tc.flag]; ok {
		return v
	}
	return "from-env"
}

func TestBadSettingIsNamed(t *testing.T) {
	for _, tc := range settingCases {
		if tc.bad == "" {
			continue
		}
		t.Run(tc.flag, func(t *testing.T) {
			_, err := parseConfig(nil, envOf(map[string]string{tc.env: tc.bad}), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.env) {
				t.Fatalf("env %s=%q: error %v does not name it", tc.env, tc.bad, err)
			}
			_, err = parseConfig([]string{"--" + tc.flag + "=" + tc.bad}, envOf(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "--"+tc.flag) {
				t.Fatalf("--%s=%q: error %v does not name it", tc.flag, tc.bad, err)
			}
		})
	}
}
