package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
)

// ErrConfig prefixes every Config that Build refuses.
var ErrConfig = errors.New("herald/node: invalid config")

// Config is one node's settings (docs/protocol.md section 7). A setting that
// more than one part reads is a field of Config itself, set once; Build
// derives each part's field of the same name from it, so that, say, the
// heartbeat the broker announces in welcome is the one the transport
// enforces, and the message limit the API bounds bodies by is the one the
// broker checks and the transport derives its frame limit from.
type Config struct {
	// NodeID names the node in welcome, stats and logs.
	NodeID string
	// MaxMessageBytes is the largest data value (HERALD_MAX_MESSAGE_BYTES):
	// the broker refuses a message over it, the API bounds request bodies
	// from it, and the transport closes with 1009 a frame over twice it.
	// 0: broker.DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Heartbeat is the ping interval (HERALD_HEARTBEAT), announced by the
	// broker and enforced by the transport. 0: broker.DefaultHeartbeat.
	Heartbeat time.Duration
	// CompressMinBytes is the shortest JSON text compressed for a client
	// that negotiated permessage-deflate (HERALD_COMPRESS_MIN_BYTES): the
	// transport negotiates it unless this is negative, and the broker
	// compresses from this size. 0: broker.DefaultCompressMinBytes;
	// negative: compression off, nothing negotiated.
	CompressMinBytes int
	// Tokens checks client tokens, on /ws (api) and in the refresh
	// command (broker); nil: every client is anonymous and allowed
	// everything.
	Tokens broker.TokenVerifier
	// Version is the build's, reported by /api/stats and /metrics
	// (herald_build_info). Empty: /metrics reads the build information
	// and /api/stats says nothing.
	Version string

	// Hooks are the backend hooks; Build hands each part the one it
	// calls (API.Connect, Broker.Subscribe), which must be left nil.
	Hooks Hooks

	// Each part's own settings. Their fields that Config sets above must
	// be left zero: Build refuses a Config that sets one fact twice.
	// Loggers left nil are named after the part from Build's logger.
	Broker    broker.Config
	Transport transport.Config
	API       api.Config

	// OpenFiles, when set and API.OpenFiles is not, is called once the
	// engine and the transport hold their descriptors, so that what it
	// counts as in use includes them (see api.Config.OpenFiles).
	OpenFiles func() *limits.OpenFiles
}

// derive checks that no fact is set twice and writes the shared settings,
// defaults resolved, into the parts' configs.
func (c *Config) derive() error {
	if err := c.setTwice(); err != nil {
		return err
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = broker.DefaultMaxMessageBytes
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = broker.DefaultHeartbeat
	}
	if c.MaxMessageBytes < 0 || c.Heartbeat < 0 {
		return fmt.Errorf("%w: negative MaxMessageBytes %d or Heartbeat %v", ErrConfig, c.MaxMessageBytes, c.Heartbeat)
	}
	for _, p := range c.Broker.PresenceTopics {
		if !broker.ValidPattern(p) {
			return fmt.Errorf("%w: Broker.PresenceTopics: %q is not a valid topic or pattern", ErrConfig, p)
		}
	}
	c.Broker.NodeID = c.NodeID
	c.Broker.MaxMessageBytes, c.Transport.MaxMessageBytes, c.API.MaxMessageBytes =
		c.MaxMessageBytes, c.MaxMessageBytes, c.MaxMessageBytes
	c.Broker.Heartbeat, c.Transport.Heartbeat = c.Heartbeat, c.Heartbeat
	c.Broker.CompressMinBytes = c.CompressMinBytes
	c.Transport.DisableCompression = c.CompressMinBytes < 0
	c.Broker.Tokens, c.API.Tokens = c.Tokens, c.Tokens
	c.API.Version = c.Version
	if q := c.Transport.MaxQueueBytes; q > 0 && q < MinQueueBytes {
		return fmt.Errorf("%w: Transport.MaxQueueBytes (HERALD_MAX_QUEUE_BYTES) is %d, less than %d: "+
			"a presence reply may list a member of %d bytes (a %d-byte user and %d bytes of info), "+
			"and must fit in a quarter of a connection's queue",
			ErrConfig, q, MinQueueBytes, broker.MaxMemberBytes, broker.MaxUserBytes, broker.MaxInfoBytes)
	}
	c.Broker.MaxPresenceBytes = presenceBudget(c.Transport.MaxQueueBytes)
	if c.Broker.MaxResumeBytes == 0 {
		c.Broker.MaxResumeBytes = resumeBudget(c.Transport.MaxQueueBytes)
	}
	c.Transport.CommandRate = commandRate(c.Broker.RateLimit)
	return nil
}

// commandRate is the command rate the broker applies for its RateLimit
// setting, which the transport paces reads by: 0 is the broker's default,
// a negative one no limit (and no pace).
func commandRate(rateLimit int) int {
	if rateLimit == 0 {
		return broker.DefaultRateLimit
	}
	return rateLimit
}

// presenceShare is the part of a connection's write-queue bound that one
// presence reply's members may take: a reply never closes its asker as a
// slow consumer, even with the queue partly full.
const presenceShare = 4

// MinQueueBytes is the least Transport.MaxQueueBytes a node takes: its
// presence budget must hold one member of the largest size, which every
// page lists whatever the budget (broker.PresencePage).
const MinQueueBytes = presenceShare * broker.MaxMemberBytes

// presenceBudget is the budget of one presence reply's members: a
// presenceShare of a connection's write-queue bound, at most
// broker.DefaultMaxPresenceBytes (docs/protocol.md section 8).
func presenceBudget(maxQueueBytes int) int {
	if maxQueueBytes <= 0 {
		maxQueueBytes = transport.DefaultMaxQueueBytes
	}
	return min(broker.DefaultMaxPresenceBytes, maxQueueBytes/presenceShare)
}

// resumeBudget is the message data one resume reads (broker.Config's
// MaxResumeBytes): a connection's write-queue bound less resumeRoom, or
// half of it when that is more, so that what it reads, framed, fits in
// the queue beside what waits there. More could not be sent without
// closing the client as a slow consumer. Anything a queue took before
// resumes were bounded (100 messages of 9 KiB at the default 1 MiB) still
// resumes in one go.
func resumeBudget(maxQueueBytes int) int {
	if maxQueueBytes <= 0 {
		maxQueueBytes = transport.DefaultMaxQueueBytes
	}
	return max(maxQueueBytes/2, maxQueueBytes-resumeRoom)
}

// resumeRoom is what a resume leaves of a write queue for the frames
// around its messages (about 150 bytes each beside the data, at most a
// few hundred with the longest topics) and what waits there already.
const resumeRoom = 64 << 10

// setTwice names the first part field that Config's own field owns.
func (c *Config) setTwice() error {
	fields := []struct {
		name string
		set  bool
	}{
		{"Broker.NodeID", c.Broker.NodeID != ""},
		{"Broker.MaxMessageBytes", c.Broker.MaxMessageBytes != 0},
		{"Broker.Heartbeat", c.Broker.Heartbeat != 0},
		{"Broker.Tokens", c.Broker.Tokens != nil},
		{"Broker.CompressMinBytes", c.Broker.CompressMinBytes != 0},
		{"Transport.DisableCompression", c.Transport.DisableCompression},
		{"Broker.Backpressure", c.Broker.Backpressure != nil}, // the node's transport
		{"Transport.MaxMessageBytes", c.Transport.MaxMessageBytes != 0},
		{"Transport.Heartbeat", c.Transport.Heartbeat != 0},
		{"API.MaxMessageBytes", c.API.MaxMessageBytes != 0},
		{"API.Tokens", c.API.Tokens != nil},
		{"API.Version", c.API.Version != ""},
		{"API.Connect", c.API.Connect != nil},
		{"Broker.Subscribe", c.Broker.Subscribe != nil},
		{"Broker.Events", c.Broker.Events != nil},
		{"Broker.MaxPresenceBytes", c.Broker.MaxPresenceBytes != 0}, // from Transport.MaxQueueBytes
		{"Transport.CommandRate", c.Transport.CommandRate != 0},     // from Broker.RateLimit
	}
	for _, f := range fields {
		if f.set {
			return fmt.Errorf("%w: %s is set; set it once, in the node's Config", ErrConfig, f.name)
		}
	}
	return nil
}
