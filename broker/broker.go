// Package broker holds sessions and their commands, the subscription index
// and fan-out. It knows no socket, no HTTP and no Redis: transport gives it
// Conns, an Engine gives it messages.
package broker

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Config are the broker's settings (PROTOCOL.md section 7).
type Config struct {
	NodeID           string
	Heartbeat        time.Duration // announced in welcome
	MaxMessageBytes  int           // largest data value
	MaxSubscriptions int           // per connection
	RateLimit        int           // commands per second per connection; burst twice that
	Logger           *zap.Logger
}

// Broker routes messages between publishers, the Engine and sessions.
type Broker struct {
	cfg    Config
	engine Engine
}

// New builds a broker over engine and attaches itself as its Handler.
func New(cfg Config, engine Engine) *Broker {
	b := &Broker{cfg: cfg, engine: engine}
	engine.Attach(b)
	return b
}

// HandleMessage fans m out to the local subscribers of its topic.
func (b *Broker) HandleMessage(m *Message) { panic("not implemented") }

// Session is one client connection's state: its subscriptions and limits.
type Session struct{}

// Connect starts a session on c and sends it the welcome message.
func (b *Broker) Connect(c Conn, info ClientInfo) *Session { panic("not implemented") }

// HandleText takes one complete text message from the client. payload is
// valid only during the call. It never blocks on the engine.
func (s *Session) HandleText(payload []byte) { panic("not implemented") }

// Disconnected tells the session its connection is gone; its subscriptions
// are dropped. Called once.
func (s *Session) Disconnected() { panic("not implemented") }

// Publish validates and publishes one message for a backend.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte, idempotencyKey string) (PublishResult, error) {
	panic("not implemented")
}

// History returns up to limit messages of topic after since.
func (b *Broker) History(ctx context.Context, topic string, since uint64, limit int) (HistoryResult, error) {
	panic("not implemented")
}

// TopicCount is a topic or pattern with the number of local connections
// subscribed to it.
type TopicCount struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// Topics lists every topic or pattern with at least one local subscriber.
func (b *Broker) Topics() []TopicCount { panic("not implemented") }

// Stats are this node's counters.
type Stats struct {
	Node          string
	Uptime        time.Duration
	Connections   int64
	Subscriptions int64
	Topics        int64
	MessagesIn    uint64 // messages published through this node
	MessagesOut   uint64 // messages delivered to this node's clients
}

// Stats returns this node's counters.
func (b *Broker) Stats() Stats { panic("not implemented") }

// Ready returns nil while publishes can be taken.
func (b *Broker) Ready(ctx context.Context) error {
	if rc, ok := b.engine.(ReadyChecker); ok {
		return rc.Ready(ctx)
	}
	return nil
}

// Close waits for the session workers to finish, or for ctx.
func (b *Broker) Close(ctx context.Context) error { return nil }

// AppendMessageJSON appends m as a WebSocket "message" object, tagged with
// pattern when it is not empty.
func AppendMessageJSON(dst []byte, m *Message, pattern string) []byte { panic("not implemented") }
