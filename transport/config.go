package transport

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Config are the transport's settings (docs/protocol.md sections 6 and 7).
type Config struct {
	// Loops is the number of event loops; 0: one per core. A busy loop
	// keeps a P of the Go scheduler through its run of system calls, so
	// the process needs more Ps than loops (GOMAXPROCS), or the HTTP side
	// (publishes, upgrades) waits for a free one and the fan-out that
	// feeds the loops slows down: with 2 loops on 2 Ps, 10,000 subscribers
	// over 100 topics got half the deliveries they got on 4 Ps.
	Loops int
	// MaxMessageBytes is the largest data value, the broker's setting of
	// the same name: the frame limit is derived from it (frameLimit).
	MaxMessageBytes int
	MaxQueueBytes   int // queued for one reader before close 4000
	// Heartbeat is the ping interval; silence for two closes with 4002.
	// It must be the interval the broker announces in welcome.
	Heartbeat    time.Duration
	CloseTimeout time.Duration // a closing socket is closed after this at the latest; 0: 5s
	// FragmentTimeout is how long a fragmented message may take to arrive
	// whole, from its first fragment, and a frame from the read that
	// brought its first bytes; past it the connection is closed with
	// 1008. 0: 10s.
	FragmentTimeout time.Duration
	// CommandRate is how many commands a second, pings included, the
	// broker lets one connection run (its RateLimit, as it applies it):
	// a connection's commands and pings are read at twice that at most,
	// in bursts of twice the broker's, and what comes faster waits unread
	// in its socket (pace.go). 0 or less: they are read as they come.
	CommandRate int
	// MaxDeliveryLag is how long the oldest frame the event loops could be
	// writing may wait before Wait holds publishers back (lag.go); 0:
	// DefaultMaxDeliveryLag, negative: publishers never wait.
	MaxDeliveryLag time.Duration
	// DisableCompression turns permessage-deflate (RFC 7692) off: no
	// upgrade negotiates it. Otherwise a client that offers it is answered
	// with no context takeover both ways, its connection opens with
	// broker.FramingWebSocketDeflate, and it may send compressed messages.
	DisableCompression bool
	// SendBufferBytes is the SO_SNDBUF set by SetSocketBuffers on each
	// socket the api accepts, and on each socket taken over that was not
	// (WithSocketBuffersSet), so that the kernel holds at most twice it for
	// a client that reads nothing; 0 or less leaves the socket to the
	// kernel's autotuning (up to net.ipv4.tcp_wmem's maximum).
	// cmd/herald sets DefaultSendBufferBytes unless told otherwise.
	SendBufferBytes int
	// ReceiveBufferBytes is the SO_RCVBUF set beside SendBufferBytes,
	// on the same sockets, and on a listening socket given
	// SetListenerBuffers, whose sockets then have it from their
	// handshake on, so that the kernel holds at most about twice it of
	// what a client sent and the node has not read (past its read pace,
	// or a request body not come to yet); 0 or less leaves the socket
	// to the kernel's autotuning (up to net.ipv4.tcp_rmem's maximum).
	// cmd/herald sets DefaultReceiveBufferBytes unless told otherwise.
	ReceiveBufferBytes int
	Logger             *zap.Logger

	// Portable runs every connection on a goroutine of its own over
	// net.Conn, as on systems without epoll. Connections that are not
	// plain TCP (TLS) always run so.
	Portable bool
}

// Defaults of docs/protocol.md section 7, used for zero fields. The message
// limit and the heartbeat are the broker's settings too, so their
// defaults are the broker's.
const (
	DefaultMaxQueueBytes   = 1 << 20
	DefaultCloseTimeout    = 5 * time.Second
	DefaultFragmentTimeout = 10 * time.Second
)

// frameLimit is the largest text message a client may send for a data
// limit of maxMessageBytes: twice it, room for the command around the
// data and its JSON escaping (docs/protocol.md section 6). A message over it
// closes with 1009 as soon as its header says so.
func frameLimit(maxMessageBytes int) int64 { return 2 * int64(maxMessageBytes) }

// maxQueueBytes is the largest MaxQueueBytes: a queue's counts are int32
// (outQueue), and a close frame or a ping may go past the bound.
const maxQueueBytes = math.MaxInt32 - 1<<16

// fillDefaults checks cfg and sets its zero fields to their defaults.
func fillDefaults(cfg *Config) error {
	if cfg.Loops < 0 || cfg.MaxMessageBytes < 0 || cfg.MaxQueueBytes < 0 || cfg.Heartbeat < 0 || cfg.CloseTimeout < 0 || cfg.FragmentTimeout < 0 {
		return fmt.Errorf("%w: negative setting in %+v", ErrConfig, *cfg)
	}
	if cfg.Loops == 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = broker.DefaultMaxMessageBytes
	}
	if cfg.MaxQueueBytes == 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if cfg.MaxQueueBytes > maxQueueBytes {
		return fmt.Errorf("%w: MaxQueueBytes %d is over %d", ErrConfig, cfg.MaxQueueBytes, maxQueueBytes)
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = broker.DefaultHeartbeat
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	if cfg.FragmentTimeout == 0 {
		cfg.FragmentTimeout = DefaultFragmentTimeout
	}
	if cfg.MaxDeliveryLag == 0 {
		cfg.MaxDeliveryLag = DefaultMaxDeliveryLag
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return nil
}

// sweepInterval is how often connections are checked for heartbeats,
// close deadlines and unfinished fragmented messages: often enough that
// each is met within a quarter of its length.
func sweepInterval(lim *limits) time.Duration {
	d := min(lim.heartbeat, lim.closeTimeout, lim.fragments) / 4
	return max(d, 5*time.Millisecond)
}
