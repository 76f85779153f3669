package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/store/redis"
)

// envOf is a lookup over a fixed environment.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

// environOf is kv in os.Environ's form.
func environOf(kv map[string]string) []string {
	var out []string
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	return out
}

// The defaults come from the packages' constants (see settings); written
// out here as docs/protocol.md section 7 documents them, so a constant changed
// without the documentation fails.
func TestConfigDefaults(t *testing.T) {
	got, err := parseConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:             ":8080",
		HistorySize:      100,
		HistoryTTL:       10 * time.Minute,
		MaxMessageBytes:  65536,
		MaxSubscriptions: 1000,
		RateLimit:        100,
		MaxQueueBytes:    1048576,
		Heartbeat:        25 * time.Second,
		ShutdownTimeout:  10 * time.Second,
		LogLevel:         "info",
		LogFormat:        "json",

		MaxConnectionsPerIP:      1000,
		ConnectRatePerIP:         50,
		ConnectBurstPerIP:        500,
		CommandRatePerIP:         2000,
		CommandBurstPerIP:        10000,
		MaxQueueBytesPerIP:       64 << 20,
		MaxSubscriptionsPerIP:    50000,
		MaxReadBytesPerIP:        16 << 20,
		SocketSendBufferBytes:    256 << 10,
		SocketReceiveBufferBytes: 128 << 10,
		MaxUpgradeBytes:          16384,

		PresenceLapse:   15 * time.Second,
		MaxHistoryBytes: 268435456,
		MaxDeliveryLag:  30 * time.Millisecond,

		SubscribeHookTopics: []string{">"},
		HookTimeout:         3 * time.Second,
		WebhookVacatedDelay: 5 * time.Second,

		CompressMinBytes: 256,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestTLSFilesComeInPairs(t *testing.T) {
	for _, env := range []map[string]string{{"HERALD_TLS_CERT": "c.pem"}, {"HERALD_TLS_KEY": "k.pem"}} {
		_, err := parseConfig(nil, envOf(env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "HERALD_TLS_CERT") || !strings.Contains(err.Error(), "HERALD_TLS_KEY") {
			t.Fatalf("%v: error %v does not name both settings", env, err)
		}
	}
}

func TestEmptyEnvMeansDefault(t *testing.T) {
	c, err := parseConfig(nil, envOf(map[string]string{"HERALD_HISTORY_SIZE": ""}), io.Discard)
	if err != nil || c.HistorySize != 100 {
		t.Fatalf("got %d, %v; want the default 100", c.HistorySize, err)
	}
}

func TestUnknownFlagAndStrayArgument(t *testing.T) {
	if _, err := parseConfig([]string{"--no-such"}, envOf(nil), io.Discard); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	_, err := parseConfig([]string{"serve"}, envOf(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"serve"`) {
		t.Fatalf("a stray argument gave %v", err)
	}
	var out strings.Builder
	if _, err := parseConfig([]string{"-h"}, envOf(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h gave %v", err)
	}
	if !strings.Contains(out.String(), "HERALD_REDIS_URL") {
		t.Fatalf("usage does not list the variables:\n%s", out.String())
	}
}

func TestDefaultNodeIDDiffers(t *testing.T) {
	a, b := defaultNodeID(), defaultNodeID()
	if a == "" || a == b {
		t.Fatalf("node ids %q and %q", a, b)
	}
}

// HERALD_COMPRESS_MIN_BYTES=0 turns compression off, which the node
// takes as a negative size; any other value is the threshold itself.
func TestCompressMinBytesReachesTheNode(t *testing.T) {
	for value, want := range map[string]int{"0": -1, "256": 256, "1": 1} {
		cfg, err := parseConfig([]string{"--compress-min-bytes=" + value}, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := nodeConfig(cfg, guards{}).CompressMinBytes; got != want {
			t.Errorf("%s: the node is given %d, want %d", value, got, want)
		}
	}
}

// HERALD_MAX_CONNECTIONS_PER_IP=0 turns the per-address limits off, the
// command budget with them, unless that is set itself.
func TestCommandBudgetFollowsThePerAddressLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"defaults", nil, nil, 2000},
		{"per-address limits off", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "0"}, nil, 0},
		{"per-address limits off, the budget set", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "0", "HERALD_COMMAND_RATE_PER_IP": "500"}, nil, 500},
		{"per-address limits off by flag, the budget set by flag", nil, []string{"--max-connections-per-ip=0", "--command-rate-per-ip=700"}, 700},
		{"the connection limit changed, not off", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "10"}, nil, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.CommandRatePerIP != tc.want {
				t.Errorf("command rate per address %d, want %d", c.CommandRatePerIP, tc.want)
			}
		})
	}
}

// So do the bounds of an address's queued replies, subscriptions and
// read buffers.
func TestAddressBoundsFollowThePerAddressLimits(t *testing.T) {
	for _, tc := range []struct {
		name               string
		env                map[string]string
		queue, subs, reads int
	}{
		{"defaults", nil, 64 << 20, 50000, 16 << 20},
		{"per-address limits off", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "0"}, 0, 0, 0},
		{"per-address limits off, the bounds set", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "0",
			"HERALD_MAX_QUEUE_BYTES_PER_IP": "2000000", "HERALD_MAX_SUBSCRIPTIONS_PER_IP": "70", "HERALD_MAX_READ_BYTES_PER_IP": "300000"}, 2000000, 70, 300000},
		{"a connection's queue above the default", map[string]string{"HERALD_MAX_QUEUE_BYTES": "134217728"}, 128 << 20, 50000, 16 << 20},
		{"the connection limit changed, not off", map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "10"}, 64 << 20, 50000, 16 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(nil, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxQueueBytesPerIP != tc.queue || c.MaxSubscriptionsPerIP != tc.subs || c.MaxReadBytesPerIP != tc.reads {
				t.Errorf("queued bytes per address %d, subscriptions %d, read bytes %d; want %d, %d, %d",
					c.MaxQueueBytesPerIP, c.MaxSubscriptionsPerIP, c.MaxReadBytesPerIP, tc.queue, tc.subs, tc.reads)
			}
		})
	}
}

// An address's bound set below one connection's queue is raised to it:
// a lone client's resume up to its queue could be closed 4000 each time
// it asks it again.
func TestAddressQueueBoundTakesAConnectionsQueue(t *testing.T) {
	c, err := parseConfig(nil, envOf(map[string]string{"HERALD_MAX_QUEUE_BYTES": "2097152", "HERALD_MAX_QUEUE_BYTES_PER_IP": "1048576"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxQueueBytesPerIP != 2097152 {
		t.Fatalf("an address bound of 1 MiB with 2 MiB a connection is %d, want 2097152", c.MaxQueueBytesPerIP)
	}
}

// An address's read bound below what one connection's reader may keep of
// a message at the frame limit (twice HERALD_MAX_MESSAGE_BYTES) coming in
// parts, a fragmented one's next frame included, is raised to it: four
// times HERALD_MAX_MESSAGE_BYTES. Below it a lone client's largest
// messages were closed 1008 each time.
func TestAddressReadBoundTakesAConnectionsMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		reads int
	}{
		{"a message limit of 8 MiB", map[string]string{"HERALD_MAX_MESSAGE_BYTES": "8388608"}, 32 << 20},
		{"a message limit of 8 MiB, the bound set below", map[string]string{"HERALD_MAX_MESSAGE_BYTES": "8388608", "HERALD_MAX_READ_BYTES_PER_IP": "1048576"}, 32 << 20},
		{"the bound set below the default message's", map[string]string{"HERALD_MAX_READ_BYTES_PER_IP": "100000"}, 256 << 10},
		{"the bound set above it", map[string]string{"HERALD_MAX_READ_BYTES_PER_IP": "300000"}, 300000},
		{"per-address limits off", map[string]string{"HERALD_MAX_MESSAGE_BYTES": "8388608", "HERALD_MAX_CONNECTIONS_PER_IP": "0"}, 0},
		{"the bound off", map[string]string{"HERALD_MAX_MESSAGE_BYTES": "8388608", "HERALD_MAX_READ_BYTES_PER_IP": "0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(nil, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxReadBytesPerIP != tc.reads {
				t.Errorf("read bytes per address %d, want %d", c.MaxReadBytesPerIP, tc.reads)
			}
		})
	}
}

// HERALD_PRESENCE_LAPSE takes 1s to 15s, both included, and refuses by
// name a value below (0 included), above, or that is no duration; the
// settings tables and --help give those bounds.
func TestPresenceLapseBounds(t *testing.T) {
	for v, taken := range map[string]bool{
		"1s": true, "4s": true, "15s": true,
		"999ms": false, "0": false, "0s": false, "-4s": false, "15001ms": false, "4": false, "ten": false,
	} {
		c, err := parseConfig(nil, envOf(map[string]string{"HERALD_PRESENCE_LAPSE": v}), io.Discard)
		switch {
		case taken && err != nil:
			t.Errorf("HERALD_PRESENCE_LAPSE=%s refused: %v", v, err)
		case taken && c.PresenceLapse.String() != v:
			t.Errorf("HERALD_PRESENCE_LAPSE=%s read as %v", v, c.PresenceLapse)
		case !taken && (err == nil || !strings.Contains(err.Error(), "HERALD_PRESENCE_LAPSE")):
			t.Errorf("HERALD_PRESENCE_LAPSE=%s: %v, want a refusal that names the setting", v, err)
		}
	}
	bounds := fmt.Sprintf("%v to %v", minPresenceLapse, redis.DefaultPresenceLapse)
	for _, doc := range []string{"../../README.md", "../../docs/protocol.md"} {
		if row := settingRows(t, doc)["HERALD_PRESENCE_LAPSE"]; !strings.Contains(row, bounds) {
			t.Errorf("%s: the row of HERALD_PRESENCE_LAPSE does not say %s: %s", doc, bounds, row)
		}
	}
	var help strings.Builder
	if _, err := parseConfig([]string{"-h"}, envOf(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(help.String(), bounds) {
		t.Errorf("--help does not give the presence lapse's bounds, %s", bounds)
	}
}
