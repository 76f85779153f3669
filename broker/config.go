package broker

import (
	"time"

	"go.uber.org/zap"
)

// Defaults for the settings left zero (docs/protocol.md section 7). They are
// the only home of these numbers: transport, api, the engines and
// cmd/herald refer to them, so that a default changed here changes for
// every layer at once.
const (
	// DefaultHeartbeat is announced in welcome and enforced by transport.
	DefaultHeartbeat = 25 * time.Second
	// DefaultMaxMessageBytes bounds data; transport derives its frame
	// limit, twice this, from the same setting (docs/protocol.md section 6).
	DefaultMaxMessageBytes  = 64 << 10
	DefaultMaxSubscriptions = 1000
	DefaultRateLimit        = 100
	DefaultCommandTimeout   = 10 * time.Second
	DefaultHistoryLimit     = 100 // History with limit <= 0

	// The engines' defaults (HERALD_HISTORY_SIZE, HERALD_HISTORY_TTL, and
	// docs/protocol.md section 3's idempotency window), the same for every
	// engine: they live in the package that declares Engine, which every
	// store imports.
	DefaultHistorySize = 100
	DefaultHistoryTTL  = 10 * time.Minute
	// DefaultIdempotencyTTL is how long an engine remembers a publish's
	// idempotency key (docs/protocol.md section 3: within 5 minutes).
	DefaultIdempotencyTTL = 5 * time.Minute
)

// Config are the broker's settings (docs/protocol.md section 7). Zero values
// take the defaults above.
type Config struct {
	NodeID           string
	Heartbeat        time.Duration // announced in welcome
	MaxMessageBytes  int           // largest data value
	MaxSubscriptions int           // per connection
	RateLimit        int           // commands per second per connection; burst twice that; < 0: no limit
	Logger           *zap.Logger

	// Tokens checks the token of a refresh command; nil accepts every
	// refresh and changes nothing.
	Tokens TokenVerifier
	// CommandTimeout bounds the engine calls of one client command.
	CommandTimeout time.Duration
	// Backpressure, when set, is waited on before each publish, over HTTP
	// and WebSocket alike.
	Backpressure Backpressure
	// CompressMinBytes is the shortest JSON text compressed for a session
	// in FramingWebSocketDeflate (docs/protocol.md section 13); 0:
	// DefaultCompressMinBytes, negative: nothing is compressed.
	CompressMinBytes int
	// Subscribe is the subscribe hook: subscriptions it asks about wait
	// for its yes. Nil: none.
	Subscribe SubscribeAuthorizer
	// PresenceTopics are the patterns of the topics that keep presence
	// (HERALD_PRESENCE_TOPICS, docs/protocol.md section 8); each must be a
	// valid pattern (ValidPattern). None: no topic keeps presence.
	PresenceTopics []string
	// MaxPresenceBytes is the budget of one presence reply's members
	// (PresencePage.MaxBytes); 0: DefaultMaxPresenceBytes. It must stay
	// well under the transport's write-queue bound, from which
	// internal/node derives it.
	MaxPresenceBytes int
	// Events is told what the webhooks report. Nil: nothing.
	Events EventReporter
	// MaxResumeBytes is how much message data one resume (a subscribe
	// with since, or an SSE stream's Last-Event-ID, shared among its
	// topics) reads from an engine that can stop early (ResumeReader)
	// before it is cut: the connection then gets what was read and is
	// closed with 4000, to resume from there, as its queue would have
	// overflowed. It must stay under the transport's write-queue bound,
	// from which internal/node derives it; 0: no bound.
	MaxResumeBytes int
}

// TokenVerifier turns a client token into what it grants; api implements
// it with the JWT settings.
type TokenVerifier interface {
	Verify(token string) (ClientInfo, error)
}

func (c *Config) setDefaults() {
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.CompressMinBytes == 0 {
		c.CompressMinBytes = DefaultCompressMinBytes
	}
	if c.MaxPresenceBytes <= 0 {
		c.MaxPresenceBytes = DefaultMaxPresenceBytes
	}
}
