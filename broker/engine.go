package broker

import (
	"context"
	"strconv"
)

// Message is one published message as the engine keeps and delivers it.
// A *Message handed to a Handler or returned in history is shared and must
// not be modified by anyone.
type Message struct {
	Topic string
	Epoch string // the topic's unbroken history this seq belongs to
	Seq   uint64 // position in the topic within Epoch, from 1
	ID    string // the message's uuid, "msg" on the wire
	Time  int64  // when the publish was accepted, Unix milliseconds
	Data  []byte // the published JSON value, byte for byte

	// gapFrom is set on the marker that carries a Gap through fan-out in
	// a message's place: Seq is then the gap's last seq, gapFrom its first.
	gapFrom uint64
}

// isGap reports whether m stands for a Gap rather than a message.
func (m *Message) isGap() bool { return m.gapFrom != 0 }

// PublishRequest is what the broker asks an engine to take. ID and Time are
// set by the broker; an engine that finds IdempotencyKey already used within
// five minutes returns the first result and publishes nothing.
type PublishRequest struct {
	Topic          string
	Data           []byte
	IdempotencyKey string
	ID             string
	Time           int64
}

// PublishResult says where a message was placed.
type PublishResult struct {
	Topic string
	Epoch string
	Seq   uint64
	ID    string
}

// Position is the last seq a topic has in its current epoch (Seq 0: none yet).
type Position struct {
	Epoch string
	Seq   uint64
}

// HistoryResult is a topic's current position and the messages asked for,
// oldest first.
type HistoryResult struct {
	Position
	Messages []*Message
	// Unsure is set when the engine cannot vouch that every message it
	// acknowledged in Epoch up to Seq is still there (Redis failed over
	// and may have lost the last ones): a resume from it is not recovered.
	Unsure bool
	// Scanned is what the engine's backend copied to answer a resume
	// (ResumeHistory), Messages and what it read past them; zero when it
	// does not say (it read no more than Messages).
	Scanned Scanned
}

// Scanned is what a backend copied to read history: entries, and the
// bytes of the fields ResumeBytes counts.
type Scanned struct {
	Entries, Bytes int
}

// Gap is an inclusive range of a topic's seqs, in Epoch, that were accepted
// but that this node can no longer deliver (they left history before the
// node could read them, for instance while its link to Redis was down).
type Gap struct {
	Topic    string
	Epoch    string
	From, To uint64
}

// Handler receives every message the engine delivers to this node. It is
// called in seq order per topic (never concurrently for one topic), and may
// be called concurrently for different topics. HandleGap takes the place of
// the messages it names, in the same order: an engine never skips a seq of
// a topic it delivers without one of the two.
type Handler interface {
	HandleMessage(m *Message)
	HandleGap(g Gap)

	// HandlePresence receives the joins and leaves of every topic that
	// this node subscribed to (Engine.Subscribe), in the order the engine
	// decided them per user and topic.
	HandlePresence(c PresenceChange)
	// HandleControl receives every Control sent from any node.
	HandleControl(c Control)
}

// Engine keeps seq, epoch and history of every topic and carries messages to
// every node. store/memory and store/redis implement it.
type Engine interface {
	// Attach sets the Handler for messages delivered to this node. The broker
	// calls it once, before any other method.
	Attach(h Handler)

	// Publish gives the message its topic's next seq, keeps it in history
	// and hands it to the Handler of every node that subscribed to a pattern
	// matching the topic. When it returns nil the publisher may be told the
	// message was accepted. An error wrapping ErrUnavailable means the
	// backend could not take it: nothing was published and a retry is
	// safe, unless the error also wraps ErrOutcomeUnknown, when it may have
	// been published and only a retry with the same IdempotencyKey is safe.
	Publish(ctx context.Context, req PublishRequest) (PublishResult, error)

	// History returns the topic's current position and up to limit messages
	// with seq > since in the current epoch, oldest first; limit <= 0 means
	// all that history holds.
	History(ctx context.Context, topic string, since uint64, limit int) (HistoryResult, error)

	// Position returns the topic's current epoch and last seq.
	Position(ctx context.Context, topic string) (Position, error)

	// Subscribe says this node has local subscribers for pattern (a topic or
	// a wildcard pattern). The broker calls it when the first local
	// subscription to pattern appears, and Unsubscribe when the last goes.
	Subscribe(ctx context.Context, pattern string) error
	Unsubscribe(ctx context.Context, pattern string) error

	PresenceEngine
}

// ReadyChecker is an optional Engine capability: Ready returns nil while the
// engine can take publishes. An engine without it is always ready.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// SubscribeChecker is an optional Engine capability: CheckSubscribe
// returns what Subscribe of pattern would fail with now for want of the
// engine's backend, subscribing nothing, for a check of a stream that
// opens none (Broker.CheckStream). An engine without it subscribes
// whenever asked.
type SubscribeChecker interface {
	CheckSubscribe(ctx context.Context, pattern string) error
}

// TroubleCounter is an optional Engine capability: Troubles counts the
// times its backend failed it (a call that failed, a connection lost), so
// that a ready answer given before the last of them is not handed out
// again after it. An engine without it never has trouble.
type TroubleCounter interface {
	Troubles() uint64
}

// ResumeReader is an Engine whose reads for a resume cost no more than the
// client can take. On store/redis a resume's whole history, up to
// HERALD_HISTORY_SIZE messages of HERALD_MAX_MESSAGE_BYTES each, was a
// Redis script that copied megabytes for any client that asked;
// store/memory cuts its resumes the same way, so clients see no
// difference.
type ResumeReader interface {
	// ResumeHistory is History(ctx, topic, since.Seq, 0), except that it
	// reads no message when since.Epoch is not "" and not the topic's
	// epoch (a resume sends none then), and that it stops after the first
	// message whose ResumeBytes take what it read past maxBytes: the
	// messages then end before the position's seq.
	ResumeHistory(ctx context.Context, topic string, since Position, maxBytes int) (HistoryResult, error)
}

// ResumeBytes is what m counts toward a ResumeHistory budget: its id, its
// time in decimal and its data, the fields store/redis keeps it in.
func ResumeBytes(m *Message) int {
	return len(m.ID) + len(strconv.FormatInt(m.Time, 10)) + len(m.Data)
}

// WithinResumeBytes returns the first of msgs whose ResumeBytes add up to
// at most maxBytes, and the one that takes them past it.
func WithinResumeBytes(msgs []*Message, maxBytes int) []*Message {
	n := 0
	for i, m := range msgs {
		if n += ResumeBytes(m); n > maxBytes {
			return msgs[:i+1]
		}
	}
	return msgs
}
