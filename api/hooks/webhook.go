package hooks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Defaults of the webhooks.
const (
	// DefaultVacatedDelay is how long a topic stays empty before
	// topic_vacated is sent (HERALD_WEBHOOK_VACATED_DELAY).
	DefaultVacatedDelay = 5 * time.Second
	// DefaultMaxQueuedEvents bounds the cluster's queue of events not yet
	// taken by the backend: at 100 bytes an event, 10 MB of Redis.
	DefaultMaxQueuedEvents = 100_000
	// occupancyShare is the part of the queue's bound that topic_occupied
	// and topic_vacated may fill: an anonymous client makes two of them
	// with each subscribe and unsubscribe of a new topic, a hundred a
	// second a connection (50 connections made 4,900 a second here, 29
	// Redis commands each pair), so one address alone could fill the
	// queue within seconds of a backend slower than that, and every
	// member_added, member_removed and client_disconnected after would be
	// dropped. Those come at the pace of joins and connections, which
	// the per-address connection limits bound; the other half of the
	// queue is kept for them. The same share bounds the topics waiting
	// out the vacated delay (maxOccupancy): each is a topic_vacated owed,
	// kept in Redis until its wait ends, and the sender moves only 100 of
	// them to the queue a step, so a flood of new topics while the
	// backend is slow would otherwise grow them without end; more than
	// the queue's share could take would be dropped at the end of their
	// wait anyway.
	occupancyShare = 2
	// leasePerTimeout is how long the node sending the events keeps the
	// right to after it last renewed it, in hook timeouts: a node that
	// died stops sending, and another takes over, within this (15 s at
	// the default 3 s timeout) and the store's wait for the last sender
	// to come back (store/redis takeoverWait: a quarter more, at least
	// 2 s). A send ends within one timeout, well
	// inside the lease, so no two nodes send at once.
	leasePerTimeout = 5

	// maxBatch is the most events one webhook request carries.
	maxBatch = 100
	// maxReports bounds what this node's sessions reported and the store
	// has not taken yet (for instance while Redis is down).
	maxReports = 10_000
	// idlePoll is how often the sender looks for new events when there
	// were none; the cost of an empty look is one Redis call.
	idlePoll = 100 * time.Millisecond
	// memberHold is how long a member event waits in the queue for the
	// topic's change before it, which its node reports: past it the
	// event goes anyway (that node may have died before reporting).
	memberHold = 2 * time.Second
	// maxBackoff caps the wait between two tries of a batch the backend
	// did not take: retries go on, at this pace, as long as it fails.
	maxBackoff = 10 * time.Second
)

// WebhookStore is the engine state behind the webhooks: cluster-wide
// topic occupancy and the queue of events, shared by every node of the
// cluster and surviving any one of them. store/memory and store/redis
// implement it. Every method that queues an event leaves it out when
// the queue holds max events already, and says so (dropped).
type WebhookStore interface {
	// OccupyTopic records that node has subscribers to topic. When no
	// node had any and the topic was not waiting to be vacated, occupied
	// (its topic_occupied) is queued in the same step; but when the queue
	// holds max events or maxWaiting topics wait to be vacated, it is
	// dropped and the topic is held silent: its topic_vacated is not
	// queued either, so the backend hears of neither. vacated is kept for
	// ReleaseNodes.
	OccupyTopic(ctx context.Context, topic, node string, occupied, vacated []byte, max, maxWaiting int) (dropped bool, err error)
	// VacateTopic records that node has none left. When no node has any,
	// the topic waits to be vacated until due (unless it was held
	// silent); a node that occupies it before then ends the wait, and
	// nothing is sent.
	VacateTopic(ctx context.Context, topic, node string, due time.Time, event []byte) error
	// QueueVacated queues the event of every topic whose wait ended by
	// now, and the member events held past their wait, and returns how
	// many were dropped. The topics' events are left out when the queue
	// holds maxVacated events already, the member events at max.
	QueueVacated(ctx context.Context, now time.Time, maxVacated, max int) (dropped int, err error)
	// NodeAlive says node runs, until ttl from now by the store's clock.
	NodeAlive(ctx context.Context, node string, ttl time.Duration) error
	// AddClient records that node has the connection session, and the
	// event to queue should node die with it (client_disconnected, 1006).
	AddClient(ctx context.Context, node, session string, lost []byte) error
	// RemoveClient forgets session and queues event, its end, in one step.
	RemoveClient(ctx context.Context, node, session string, event []byte, max int) (dropped bool, err error)
	// ReleaseNodes takes out of every topic's holders the nodes whose
	// NodeAlive lapsed, and node when not "" (a node starting again under
	// its old name): a topic no node holds then waits to be vacated for
	// delay, as after VacateTopic; the lost events of their connections
	// are queued. It returns how many of those were dropped.
	ReleaseNodes(ctx context.Context, node string, delay time.Duration, max int) (dropped int, err error)
	// QueueMember queues a member event of topic in the order of its
	// change (broker.PresenceChange's Seq and After): while the one
	// before it has not been queued, for hold at most (its node may have
	// died before queueing it), it is held. It returns how many events
	// were dropped, held ones it let go included.
	QueueMember(ctx context.Context, topic string, after, seq uint64, event []byte, hold time.Duration, max int) (dropped int, err error)
	// QueueEvent queues event.
	QueueEvent(ctx context.Context, event []byte, max int) (dropped bool, err error)
	// NextEvents gives node, when it holds the sender's lease or takes it
	// (renewed for lease), the oldest queued events, at most n, and a
	// cursor for AckEvents; sender false: another node sends. others
	// says that another node took the lease since node last held it.
	NextEvents(ctx context.Context, node string, n int, lease time.Duration) (events [][]byte, cursor string, sender, others bool, err error)
	// AckEvents takes the events NextEvents gave up to cursor out of the
	// queue, unless node lost the lease meanwhile (then the next sender
	// sends them again).
	AckEvents(ctx context.Context, node, cursor string) error
}

// WebhookConfig are the webhooks' settings.
type WebhookConfig struct {
	URL          string        // HERALD_WEBHOOK_URL
	Node         string        // this node's id
	Store        WebhookStore  // the engine
	VacatedDelay time.Duration // 0: DefaultVacatedDelay
	MaxQueued    int           // 0: DefaultMaxQueuedEvents
	Lease        time.Duration // 0: 5 hook timeouts
	Logger       *zap.Logger
}

// Webhooks reports topic occupancy and disconnections to the backend
// (docs/protocol.md section 11). It implements broker.EventReporter: the
// broker's reports go into bounded buffers that goroutines write to
// the store in order, and another sends the store's queue to the backend
// while this node is the cluster's sender.
type Webhooks struct {
	cfg     WebhookConfig
	client  *Client
	log     *zap.Logger
	reports [recorders]chan report // by key: one recorder each, in order

	ctx    context.Context // ends when Close gives up
	cancel context.CancelFunc
	stop   chan struct{} // closed by Close: the goroutines finish
	wg     sync.WaitGroup
	once   sync.Once

	// The sender goroutine's own: when it last said this node runs, when
	// that last went through, and since when those heartbeats have gone
	// through without a failure or a gap longer than the lease.
	lastAlive, aliveAt, aliveSince time.Time
	// members is what the sender goroutine sent lately of each member
	// (webhook_repeats.go).
	members memberMemory

	dropMu        sync.Mutex
	unlogged      int       // drops not logged yet
	droppedLogged time.Time // when drops were last logged
}

var _ broker.EventReporter = (*Webhooks)(nil)

// report is one thing the broker reported, in the order it did.
type report struct {
	kind  reportKind
	topic string // the session, for a connection's reports; the key that picks its recorder
	event []byte
	other []byte // TopicHeld: the topic_vacated to keep for ReleaseNodes

	seq, after uint64 // reportMember: the change's order on its topic
}

type reportKind uint8

const (
	reportHeld reportKind = iota + 1
	reportLeft
	reportMember
	reportConnected
	reportDisconnected
	reportRestart // the node starts: release what its name held before
)

// Webhooks starts the webhooks of cfg; Close stops them.
func (c *Client) Webhooks(cfg WebhookConfig) (*Webhooks, error) {
	if cfg.Store == nil {
		return nil, errors.New("herald/hooks: the engine keeps no webhook queue")
	}
	if cfg.VacatedDelay <= 0 {
		cfg.VacatedDelay = DefaultVacatedDelay
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueuedEvents
	}
	if cfg.Lease <= 0 {
		cfg.Lease = leasePerTimeout * c.timeout
	}
	if cfg.Lease < 2*c.timeout {
		// A send must end well within the lease, or a second node could
		// take over and send the same batch while the first still does.
		return nil, fmt.Errorf("herald/hooks: webhook lease %s is under twice the hook timeout %s", cfg.Lease, c.timeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhooks{cfg: cfg, client: c, log: cfg.Logger, ctx: ctx, cancel: cancel, stop: make(chan struct{})}
	for i := range w.reports {
		w.reports[i] = make(chan report, maxReports/recorders)
	}
	w.wg.Add(2)
	go w.record()
	go w.send()
	return w, nil
}

// push hands r to the recorder, or counts and logs it dropped when the
// buffer is full (the store has been failing for a while).
func (w *Webhooks) push(r report) {
	select {
	case w.reports[recorderOf(r.topic)] <- r:
	default:
		w.dropped(1, "this node's buffer of reports is full: the engine has not taken them")
	}
}

// dropped counts n events dropped and logs them: at once, and then at
// most once a second with the count since, so that a flood of drops is
// seen without flooding the log.
func (w *Webhooks) dropped(n int, why string) {
	w.client.metrics.webhookDropped.Add(float64(n))
	w.dropMu.Lock()
	w.unlogged += n
	now := time.Now()
	if now.Sub(w.droppedLogged) < time.Second {
		w.dropMu.Unlock()
		return
	}
	n, w.unlogged, w.droppedLogged = w.unlogged, 0, now
	w.dropMu.Unlock()
	w.log.Warn("webhook events dropped", zap.Int("events", n), zap.String("why", why))
}

// Close stops the webhooks: what the broker reported is handed to the
// store first (within ctx), so that another node can send it; the send
// in progress ends within the hook timeout.
func (w *Webhooks) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }() // ends once they have: awaited below
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-done
		return ctx.Err()
	}
}
