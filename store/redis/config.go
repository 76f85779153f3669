package redis

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Config are the engine's settings. Zero durations take the defaults below.
type Config struct {
	URL            string        // redis[s]://, redis[s]+sentinel:// or redis[s]+cluster:// (see the package doc)
	NodeID         string        // this node's name; default: a random one
	HistorySize    int           // messages kept per topic; 0: no history
	HistoryTTL     time.Duration // how long a topic outlives its last publish; default 10m
	IdempotencyTTL time.Duration // how long an idempotency key holds; default 5m
	Prefix         string        // put before every key and channel; default "herald:"
	Timeout        time.Duration // bound of every Redis call; default 2s

	ProbeInterval time.Duration // how often the pub/sub connection is probed; default 1s
	CheckInterval time.Duration // how often delivery is compared with Redis to recover losses; default 5s
	BackoffMax    time.Duration // longest wait between reconnect attempts; default 2s

	// PresenceLapse is how long a node's presence entries outlive its last
	// heartbeat (sent every third of it): a node that died is cleaned up
	// by the others within about 4/3 of it. Default 15s, which meets the
	// 30 s of docs/protocol.md section 8.
	PresenceLapse time.Duration

	// KeepsPresence says whether a topic keeps presence (the node's
	// HERALD_PRESENCE_TOPICS). Only a subscription to such a topic keeps
	// a place in the topic's presence change log and has it read after a
	// reconnect; the joins and leaves of other topics are not handed
	// over. Nil: every topic may keep presence.
	KeepsPresence func(topic string) bool

	Logger *zap.Logger // default: no logs

	// pause is time.After for a receive loop's wait after a failed
	// receive (loop is the loop's); a test makes that wait end only when
	// something else ends it.
	pause func(d time.Duration, loop *loopControl) <-chan time.Time
	// backoffEnd is time.After for the supervisor's wait before it
	// replaces the pub/sub connection again; a test makes that wait end
	// only when something else ends it.
	backoffEnd func(time.Duration) <-chan time.Time
	// afterControlsRead runs in a catch-up of the control stream between
	// its read and what it hands over; a test breaks the connection there.
	afterControlsRead func()
	// betweenHeldBatches runs in a resync of the webhook topics held
	// between two batches, the gate free; a test reports changes there.
	betweenHeldBatches func()
	// mastersEvery is how often a node on Cluster that holds no pattern
	// reads the masters for its twins' sake (see watcher.probe); zero:
	// clusterReload. A test shortens it so as not to wait seconds for
	// each failover it makes.
	mastersEvery time.Duration
}

// Defaults of Config.
const (
	DefaultHistoryTTL     = broker.DefaultHistoryTTL
	DefaultIdempotencyTTL = broker.DefaultIdempotencyTTL
	DefaultPrefix         = "herald:"
	DefaultTimeout        = 2 * time.Second
	DefaultProbeInterval  = time.Second
	DefaultCheckInterval  = 5 * time.Second
	DefaultBackoffMax     = 2 * time.Second
	DefaultPresenceLapse  = 15 * time.Second
)

// minPresenceLapse bounds PresenceLapse from below: a heartbeat a few
// milliseconds apart would keep Redis busy for nothing.
const minPresenceLapse = 300 * time.Millisecond

// errConfig prefixes every invalid setting.
var errConfig = errors.New("herald/redis: invalid config")

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, fmt.Errorf("%w: URL is empty", errConfig)
	}
	if c.HistorySize < 0 {
		return c, fmt.Errorf("%w: HistorySize %d is negative", errConfig, c.HistorySize)
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return c, fmt.Errorf("%w: Prefix %q holds a brace, which would break the {topic} hash tag", errConfig, c.Prefix)
	}
	if c.NodeID == "" {
		c.NodeID = newEpoch()
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HistoryTTL", &c.HistoryTTL, DefaultHistoryTTL},
		{"IdempotencyTTL", &c.IdempotencyTTL, DefaultIdempotencyTTL},
		{"Timeout", &c.Timeout, DefaultTimeout},
		{"ProbeInterval", &c.ProbeInterval, DefaultProbeInterval},
		{"CheckInterval", &c.CheckInterval, DefaultCheckInterval},
		{"BackoffMax", &c.BackoffMax, DefaultBackoffMax},
		{"PresenceLapse", &c.PresenceLapse, DefaultPresenceLapse},
	}
	if c.mastersEvery == 0 {
		c.mastersEvery = clusterReload
	}
	if c.PresenceLapse != 0 && c.PresenceLapse < minPresenceLapse {
		return c, fmt.Errorf("%w: PresenceLapse %v is below %v", errConfig, c.PresenceLapse, minPresenceLapse)
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("%w: %s %v is negative", errConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	return c, nil
}
