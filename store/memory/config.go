package memory

import (
	"fmt"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Defaults for the zero values of Config (docs/protocol.md sections 3, 6 and 7).
const (
	DefaultHistoryTTL              = broker.DefaultHistoryTTL
	DefaultIdempotencyTTL          = broker.DefaultIdempotencyTTL
	DefaultIdempotencyKeysPerTopic = 100_000
	DefaultMaxHistoryBytes         = 256 << 20
)

// Config are the memory engine's settings. Zero values take the defaults
// above, except HistorySize, whose zero turns history off.
type Config struct {
	// HistorySize is how many messages each topic keeps; 0 keeps none
	// (seq still grows).
	HistorySize int
	// HistoryTTL is how long a topic's state (epoch, seq, history)
	// outlives its last publish. After it the topic starts a new epoch.
	HistoryTTL time.Duration
	// MaxHistoryBytes bounds what all topics hold together: messages in
	// history, topic states and idempotency keys, each counted with its
	// bookkeeping. Past it the topics published to least recently lose
	// their history first, then their state (Engine.Stats counts both).
	MaxHistoryBytes int64
	// IdempotencyTTL is how long a publish's idempotency key is remembered.
	IdempotencyTTL time.Duration
	// IdempotencyKeysPerTopic bounds the keys one topic remembers at once.
	// Past it that topic's oldest keys are forgotten before their TTL (a
	// retry with one of them publishes again), counted and logged as a
	// warning; other topics' keys are untouched, so one publisher cannot
	// make another's retries publish twice. All keys also count toward
	// MaxHistoryBytes.
	IdempotencyKeysPerTopic int
	// Logger receives the janitor's reports; nil logs nothing.
	Logger *zap.Logger
}

// Validate returns an error naming the first setting that is out of range.
func (c Config) Validate() error {
	switch {
	case c.HistorySize < 0:
		return fmt.Errorf("herald/memory: history size %d is negative", c.HistorySize)
	case c.HistoryTTL < 0:
		return fmt.Errorf("herald/memory: history TTL %v is negative", c.HistoryTTL)
	case c.MaxHistoryBytes < 0:
		return fmt.Errorf("herald/memory: max history bytes %d is negative", c.MaxHistoryBytes)
	case c.IdempotencyTTL < 0:
		return fmt.Errorf("herald/memory: idempotency TTL %v is negative", c.IdempotencyTTL)
	case c.IdempotencyKeysPerTopic < 0:
		return fmt.Errorf("herald/memory: idempotency key bound %d is negative", c.IdempotencyKeysPerTopic)
	}
	return nil
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.HistoryTTL == 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.MaxHistoryBytes == 0 {
		c.MaxHistoryBytes = DefaultMaxHistoryBytes
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.IdempotencyKeysPerTopic == 0 {
		c.IdempotencyKeysPerTopic = DefaultIdempotencyKeysPerTopic
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// sweepInterval is how often the janitor runs: often enough that expired
// state is freed within about half a TTL, rarely enough to cost nothing.
// Expiry itself is exact without it: every access checks the topic's age.
func (c Config) sweepInterval() time.Duration {
	d := min(c.HistoryTTL, c.IdempotencyTTL) / 2
	return min(max(d, 10*time.Millisecond), time.Minute)
}
