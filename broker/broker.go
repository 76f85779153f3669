package broker

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Broker routes messages between publishers, the Engine and sessions.
type Broker struct {
	cfg      Config
	engine   Engine
	log      *zap.Logger
	refusals *zap.Logger // log's child named RefusalLogger (Session.refused)
	idx      *index
	remote   *remoteSubs
	sessions *sessionIndex // every session, by id and by user, for controls
	workers  workerGroup
	expiries expiries        // the sessions' token deadlines
	ctx      context.Context // ends when Close gives up waiting
	cancel   context.CancelFunc
	started  time.Time
	// queueLimit bounds the commands one session may have waiting.
	queueLimit int
	stats      counters
	traffic    *traffic // publishes per topic (traffic.go)
	// deliveries counts the frames fan-outs queued per topic (deliveries.go).
	deliveries *deliveryTally
	// pause is time.After; a test makes the pauses between a server
	// subscription's tries end only when something else ends them.
	pause func(time.Duration) <-chan time.Time
}

type counters struct {
	connections   atomic.Int64
	streams       atomic.Int64 // the connections that are SSE streams
	subscriptions atomic.Int64
	topics        atomic.Int64
	messagesIn    atomic.Uint64
	messagesOut   atomic.Uint64
	gaps          atomic.Uint64 // gaps the engine reported
	gapMessages   atomic.Uint64 // messages those gaps stood for
	// rateLimited counts the commands and pings refused for the command
	// rate, by the rate that refused them (paceVerdict).
	rateLimited [paceVerdicts]atomic.Uint64

	publishLatency latencyHistogram
}

// New builds a broker over engine and attaches itself as its Handler.
func New(cfg Config, engine Engine) *Broker {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg:      cfg,
		engine:   engine,
		log:      cfg.Logger,
		refusals: cfg.Logger.Named(RefusalLogger),
		idx:      newIndex(),
		remote:   newRemoteSubs(engine),
		sessions: newSessionIndex(),
		ctx:      ctx,
		cancel:   cancel,
		started:  time.Now(),

		queueLimit: queueLimit(cfg.RateLimit),
		traffic:    newTraffic(time.Now()),
		deliveries: newDeliveryTally(),
		pause:      time.After,
	}
	b.expiries.g = &b.workers
	b.remote.events = cfg.Events
	engine.Attach(b)
	return b
}

// index and unindex keep the counters beside the index.
func (b *Broker) index(sub *subscription) {
	if b.idx.add(sub) {
		b.stats.topics.Add(1)
	}
	b.stats.subscriptions.Add(1)
}

func (b *Broker) unindex(sub *subscription) {
	removed, emptied := b.idx.remove(sub)
	if removed {
		b.stats.subscriptions.Add(-1)
	}
	if emptied {
		b.stats.topics.Add(-1)
	}
}

// History returns up to limit messages of topic after since, oldest first;
// limit <= 0 means DefaultHistoryLimit. Errors are *Error.
func (b *Broker) History(ctx context.Context, topic string, since uint64, limit int) (HistoryResult, error) {
	if err := CheckTopic(topic); err != nil {
		return HistoryResult{}, err
	}
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	h, err := b.engine.History(ctx, topic, since, limit)
	if err != nil {
		return HistoryResult{}, b.replyError(err)
	}
	return h, nil
}

// Stats are this node's counters.
type Stats struct {
	Node          string
	Uptime        time.Duration
	Connections   int64 // sessions open: WebSocket connections and SSE streams
	Streams       int64 // of Connections, the SSE streams
	Subscriptions int64
	Topics        int64
	MessagesIn    uint64 // messages published through this node
	MessagesOut   uint64 // messages delivered to this node's clients
	Gaps          uint64 // ranges of accepted messages this node could not deliver
	GapMessages   uint64 // messages in those ranges
	// RateLimitedConnection counts the commands answered rate_limited,
	// and the pings dropped, for their connection's command rate;
	// RateLimitedAddress those its connection's rate let through and its
	// client address's budget (ClientInfo.Pacer) did not.
	RateLimitedConnection uint64
	RateLimitedAddress    uint64
}

// Stats returns this node's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Node:          b.cfg.NodeID,
		Uptime:        time.Since(b.started),
		Connections:   b.stats.connections.Load(),
		Streams:       b.stats.streams.Load(),
		Subscriptions: b.stats.subscriptions.Load(),
		Topics:        b.stats.topics.Load(),
		MessagesIn:    b.stats.messagesIn.Load(),
		MessagesOut:   b.stats.messagesOut.Load(),
		Gaps:          b.stats.gaps.Load(),
		GapMessages:   b.stats.gapMessages.Load(),

		RateLimitedConnection: b.stats.rateLimited[refusedByConnection].Load(),
		RateLimitedAddress:    b.stats.rateLimited[refusedByAddress].Load(),
	}
}

// Ready returns nil while publishes can be taken.
func (b *Broker) Ready(ctx context.Context) error {
	if rc, ok := b.engine.(ReadyChecker); ok {
		return rc.Ready(ctx)
	}
	return nil
}

// EngineTroubles counts the times the engine's backend failed it (see
// TroubleCounter); it never goes down.
func (b *Broker) EngineTroubles() uint64 {
	if tc, ok := b.engine.(TroubleCounter); ok {
		return tc.Troubles()
	}
	return 0
}

// Close stops taking client commands (later ones are answered unavailable),
// stops the sessions' token expiry timers, and waits for the session
// workers to finish. When ctx ends first, their engine calls are
// cancelled, and Close returns ctx's error once they have returned.
func (b *Broker) Close(ctx context.Context) error {
	b.expiries.close()
	err := b.workers.close(ctx)
	b.cancel()
	b.workers.wait() // at once unless ctx ended: then the cancel ends them
	return err
}
