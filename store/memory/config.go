package memory

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults for the zero values of Config (PROTOCOL.md sections 3 and 7).
const (
	DefaultHistoryTTL      = 10 * time.Minute
	DefaultIdempotencyTTL  = 5 * time.Minute
	DefaultIdempotencyKeys = 100_000
)

// Config are the memory engine's settings. Zero values take the defaults
// above, except HistorySize, whose zero turns history off.
type Config struct {
	// HistorySize is how many messages each topic keeps; 0 keeps none
	// (seq still grows).
	HistorySize int
	// HistoryTTL is how long a topic's state (epoch, seq, history)
	// outlives its last publish, or its creation when it had none. After
	// it the topic starts a new epoch.
	HistoryTTL time.Duration
	// IdempotencyTTL is how long a publish's idempotency key is remembered.
	IdempotencyTTL time.Duration
	// IdempotencyKeys bounds how many idempotency keys are remembered at
	// once. Past it the oldest keys are forgotten before their TTL, so a
	// retry with one of them publishes again; each such early eviction is
	// counted and logged as a warning. A remembered key costs at most
	// about 500 bytes (a key longer than 64 bytes is kept as its SHA-256),
	// so the default bound holds about 50 MB at worst.
	IdempotencyKeys int
	// Logger receives the janitor's reports; nil logs nothing.
	Logger *zap.Logger
}

// Validate returns an error naming the first setting that is out of range.
func (c Config) Validate() error {
	switch {
	case c.HistorySize < 0:
		return fmt.Errorf("memory: history size %d is negative", c.HistorySize)
	case c.HistoryTTL < 0:
		return fmt.Errorf("memory: history TTL %v is negative", c.HistoryTTL)
	case c.IdempotencyTTL < 0:
		return fmt.Errorf("memory: idempotency TTL %v is negative", c.IdempotencyTTL)
	case c.IdempotencyKeys < 0:
		return fmt.Errorf("memory: idempotency key bound %d is negative", c.IdempotencyKeys)
	}
	return nil
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.HistoryTTL == 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.IdempotencyKeys == 0 {
		c.IdempotencyKeys = DefaultIdempotencyKeys
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
