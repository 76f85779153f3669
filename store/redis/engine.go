package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

var (
	_ broker.Engine       = (*Engine)(nil)
	_ broker.ReadyChecker = (*Engine)(nil)
)

// Engine is a broker.Engine shared through Redis. Build it with New and stop
// it with Close.
type Engine struct {
	cfg     Config
	keys    keys
	rdb     goredis.UniversalClient
	once    goredis.UniversalClient // rdb's twin that never retries: for publishes without an idempotency key
	pubsub  goredis.UniversalClient // opens the pub/sub connections: off Cluster, rdb's twin without the stamp (see newClients)
	reports goredis.UniversalClient // off Cluster, rdb's twin that webhook reports go through (webhook_conns.go); nil on Cluster
	stamps  *slotStamp              // on Cluster, stamps the node clients, and makes their twins for sharded pub/sub
	log     *zap.Logger
	handler atomic.Pointer[handlerBox]

	subs subscriptions // what the broker subscribed, and per-topic delivery state

	psMu      sync.Mutex      // held while the pub/sub connection changes or subscribes
	ps        *goredis.PubSub // the current pub/sub connection
	psDone    chan struct{}   // closed when the receive loop of ps has ended
	psLoop    *loopControl    // ps's receive loop: stopped before ps is closed, woken once ps is subscribed
	controlOn bool            // ps is subscribed to the control channel; psMu guards it
	shards    shards          // on Cluster, the sharded connections exact topics use
	patterns  patternGate     // on Cluster, whether publishes go on classic channels too

	acks         acks          // subscriptions waiting for Redis to confirm them
	probes       probeWaits    // the legs of probes waiting for their copies to come back
	psBroken     chan struct{} // the receive loop saw its connection fail
	shardsBroken chan struct{} // a shard's receive loop saw its connection fail
	probeID      string        // starts every probe token: two nodes named alike never take each other's
	probeN       atomic.Uint64
	classicProbe string   // the classic connection's probe channel (see openConnLocked); the supervisor's, set under psMu
	classicN     int      // the number of classicProbe on Cluster
	lagMarks     lagMarks // this node's word on the lag board
	lagLists     lagLists // the other nodes' words, as read last

	stats     stats
	checks    checkTrouble // the supervisor's alone
	refused   lastRefusal  // when Redis last refused a publish, for Ready
	pubs      pipelines    // publishes of concurrent callers, sent in shared round trips
	pres      presenceLocal
	presTerms syncedTerms       // the masters' terms this node tells its entries are in (presence_terms.go)
	lostCheck lostCheck         // the check of the joins sent under way (presence_lost.go)
	marks     changeMarks       // where this node stands in each topic's presence change log
	presOut   chan queuedChange // joins and leaves for the Handler (changehandover.go)
	ctl       controlCursor
	held      heldTopics                                  // the topics this node's webhooks hold (webhook_held.go)
	terms     senderTerms                                 // the webhook sender's term each node name last read (webhooks.go)
	repl      replicaWatch                                // the {webhooks} master's replicas (webhook_replicas.go)
	members   atomic.Pointer[func(broker.PresenceChange)] // WatchMembers
	// betweenPresenceReads, set by tests only, runs between a presence
	// read's names and its members, where users may leave.
	betweenPresenceReads func()
	// masterUnknown, set by tests only, names the topics whose master
	// the slot map is to know none of, as before go-redis has read one.
	masterUnknown func(topic string) bool
	// afterShardFor, set by tests only, runs once shardFor returned the
	// shard a topic is to be homed on, before the caller homes it there.
	afterShardFor func()
	// failReads, set by tests only, is how many of the next reads of
	// history fail as if Redis could not be reached.
	failReads atomic.Int64
	// checksHeld, set by tests only, has the periodic check skip its
	// ticks: a test that loses a message holds them from the topic's last
	// delivered message to the loss, so that no check counted in the
	// topic's recent traffic (activity.go) starts before the loss.
	checksHeld atomic.Bool
	refills    refills // topics whose hole a read failed to fill (refill.go)
	// untracked is what breaks of the classic connection owe the topics
	// only patterns cover that the node does not track (untracked.go);
	// classicSure is when the last probe that came back through it was
	// sent, in Unix nanoseconds.
	untracked   untrackedDebt
	classicSure atomic.Int64
	// The publish script's arguments from cfg (history size and TTL,
	// idempotency TTL), converted to interfaces once: a number over 255
	// allocated each time it was, on every publish.
	publishOpts [3]any
	logKeep     atomic.Value // changeLogKeep of slowestLapse, in ms, boxed: the presence scripts' last argument
	// run is the run key ("" on Cluster, where each slot has its own:
	// see runstamp_cluster.go), and runArg the same boxed for the publish
	// script (nil on Cluster).
	run    string
	runArg any

	runCtx    context.Context // ends with Close: the receive loops' context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	stopOnce  sync.Once
	closeOnce sync.Once
}

type handlerBox struct{ h broker.Handler }

// New connects an engine to cfg.URL and starts its pub/sub connection. A
// Redis that does not answer yet is not an error: the engine keeps trying,
// and Ready says when it can take publishes.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: URL: %w", errConfig, err)
	}
	k := keys{prefix: cfg.Prefix}
	log := cfg.Logger.With(zap.String("node", cfg.NodeID))
	var run string
	var runArg any
	var stamp func(context.Context, *goredis.Conn) error
	var node func(*goredis.Options) *goredis.Client
	var stamps *slotStamp
	if u.mode == cluster {
		stamps = newSlotStamp(k, log, cfg.Timeout)
		node = stamps.newNodeClient
	} else {
		run = k.run()
		runArg = run
		stamp = (&runStamp{key: run, log: log}).stampRun
	}
	rdb, once, pubsub, reports := newClients(u, cfg.Timeout, stamp, node)
	e := &Engine{
		cfg:          cfg,
		keys:         k,
		rdb:          rdb,
		once:         once,
		pubsub:       pubsub,
		reports:      reports,
		stamps:       stamps,
		log:          log,
		subs:         newSubscriptions(),
		psBroken:     make(chan struct{}, 1),
		shardsBroken: make(chan struct{}, 1),
		probeID:      newEpoch(),
		shards:       newShards(rdb),
		patterns:     newPatternGate(),
		pres:         newPresenceLocal(),
		marks:        newChangeMarks(),
		presOut:      make(chan queuedChange, presenceQueue),
		refills:      newRefills(),

		publishOpts: [3]any{cfg.HistorySize, cfg.HistoryTTL.Milliseconds(), cfg.IdempotencyTTL.Milliseconds()},
		run:         run,
		runArg:      runArg,
	}
	e.logKeep.Store(any(changeLogKeep(cfg.PresenceLapse).Milliseconds()))
	e.noteSure(time.Now()) // nothing is subscribed before
	if err := e.loadScripts(ctx); err != nil {
		e.log.Warn("redis not reachable at start; will keep trying", zap.Error(err))
	}
	runCtx, stop := context.WithCancel(context.Background())
	e.runCtx, e.stop = runCtx, stop
	e.openConnLocked(runCtx) // no other goroutine has e yet
	e.wg.Add(1)
	go e.supervise(runCtx)
	if e.shards.on() {
		e.wg.Add(1)
		go e.watchPatterns(runCtx)
	}
	e.wg.Add(1)
	go e.keepPresence(runCtx)
	e.wg.Add(1)
	go e.handPresence(runCtx)
	e.wg.Add(1)
	go e.refill(runCtx)
	return e, nil
}

// loadScripts puts the scripts in Redis's cache so that publishes go by SHA
// from the first one; a Redis that lost them gets them again on NOSCRIPT.
func (e *Engine) loadScripts(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	for _, s := range []*goredis.Script{publishScript, readScript, addPresenceScript, removePresenceScript} {
		if err := s.Load(ctx, e.rdb).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the node's presence entries (their leaves go out now),
// stops every goroutine of the engine, removes the terms it told
// (presence_terms.go) once the last of its presence rounds has ended,
// closes its clients and returns once every goroutine has ended. When
// ctx ends first, the clients are closed at once, which ends any call
// still waiting on Redis, and Close still waits for the goroutines
// before it returns ctx's error; the entries it could not remove are
// removed by the other nodes after the lapse.
func (e *Engine) Close(ctx context.Context) error {
	left := e.leaveAll(ctx)
	e.stopOnce.Do(e.stop)
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }() // ends once they have: awaited below
	var ctxErr error
	select {
	case <-done:
		if left {
			e.untellTerms(ctx, e.pres.currentLife()) // after the last presence round
		}
	case <-ctx.Done():
		ctxErr = fmt.Errorf("herald/redis: close: %w", ctx.Err())
	}
	err := e.closeClients()
	e.pubs.close()
	<-done
	return errors.Join(ctxErr, err)
}

// closeClients closes the Redis clients, once.
func (e *Engine) closeClients() (err error) {
	e.closeOnce.Do(func() {
		err = errors.Join(e.rdb.Close(), e.once.Close())
		if e.pubsub != e.rdb {
			err = errors.Join(err, e.pubsub.Close())
		}
		if e.reports != nil {
			err = errors.Join(err, e.reports.Close())
		}
		if e.stamps != nil {
			err = errors.Join(err, e.stamps.twins.close(), e.stamps.reporters.close())
			e.stamps.end()
			e.stamps.jobs.Wait()
		}
	})
	return err
}

// Attach sets the Handler that gets this node's messages.
func (e *Engine) Attach(h broker.Handler) { e.handler.Store(&handlerBox{h}) }

// History returns the topic's position and up to limit messages after since.
func (e *Engine) History(ctx context.Context, topic string, since uint64, limit int) (broker.HistoryResult, error) {
	if limit <= 0 {
		limit = -1
	}
	return e.read(ctx, topic, newEpoch(), since, limit, 0)
}

// Position returns the topic's epoch and last seq, starting an epoch at
// seq 0 for a topic Redis has nothing of.
func (e *Engine) Position(ctx context.Context, topic string) (broker.Position, error) {
	res, err := e.read(ctx, topic, newEpoch(), 0, 0, 0)
	return res.Position, err
}

var _ broker.ResumeReader = (*Engine)(nil)

// ResumeHistory is History for a resume, within maxBytes of message
// fields and reading nothing from another epoch than since's
// (broker.ResumeReader).
func (e *Engine) ResumeHistory(ctx context.Context, topic string, since broker.Position, maxBytes int) (broker.HistoryResult, error) {
	return e.readWithin(ctx, topic, newEpoch(), since.Seq, 0, max(maxBytes, 1), since.Epoch)
}

// read runs the read script. start is the epoch to begin when the topic has
// none ("": begin none); upto bounds the seqs read (0: no bound).
func (e *Engine) read(ctx context.Context, topic, start string, since uint64, limit int, upto uint64) (broker.HistoryResult, error) {
	return e.readAt(ctx, e.rdb, topic, start, since, limit, upto, 0, "")
}

// readWithin reads all that history holds after since, up to upto, within
// budget bytes (see readScript), from epoch ("": any).
func (e *Engine) readWithin(ctx context.Context, topic, start string, since, upto uint64, budget int, epoch string) (broker.HistoryResult, error) {
	return e.readAt(ctx, e.rdb, topic, start, since, -1, upto, budget, epoch)
}

// readAt runs the read script with every argument, through via: e.rdb,
// or for a check's read the client of plainReader (see readFollowing).
func (e *Engine) readAt(ctx context.Context, via goredis.Cmdable, topic, start string, since uint64, limit int, upto uint64, budget int, epoch string) (broker.HistoryResult, error) {
	if err := broker.CheckTopic(topic); err != nil {
		return broker.HistoryResult{}, err
	}
	if e.readFailedByTest() {
		return broker.HistoryResult{}, e.fail("read", errReadFailedByTest)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	keys, args := e.readArgs(topic, start, since, limit, upto, budget, epoch)
	var v any
	err := e.readFollowing(via, func(c goredis.Cmdable) (err error) {
		v, err = readScript.Run(ctx, c, keys, args...).Result()
		return err
	})
	if err != nil {
		return broker.HistoryResult{}, e.fail("read", err)
	}
	return parseRead(topic, v)
}

// readArgs returns the keys and arguments of the read script for readAt's
// arguments.
func (e *Engine) readArgs(topic, start string, since uint64, limit int, upto uint64, budget int, epoch string) (keys []string, args []any) {
	since = min(since, maxSeq) // Lua numbers are doubles; no topic gets this far
	end := "+"
	if upto > 0 {
		end = strconv.FormatUint(min(upto, maxSeq), 10)
	}
	return []string{e.keys.meta(topic), e.keys.hist(topic), e.runKeyOf(topic)},
		[]any{start, e.cfg.HistoryTTL.Milliseconds(), since, limit, end, e.cfg.HistorySize, budget, epoch}
}

// runKeyOf is where the scripts of topic read the run from (see
// runstamp.go): the run key, or on Cluster the run key of the topic's
// slot (runstamp_cluster.go).
func (e *Engine) runKeyOf(topic string) string {
	if e.run == "" {
		return e.keys.slotRun(hashSlot(topic))
	}
	return e.run
}

// readFailedByTest reports whether failReads fails this read, counting
// it.
func (e *Engine) readFailedByTest() bool {
	return e.failReads.Load() > 0 && e.failReads.Add(-1) >= 0
}

// errReadFailedByTest is the error of a read that failReads fails.
var errReadFailedByTest = errors.New("herald/redis: read failed by a test")

// maxSeq is the largest seq the scripts handle exactly (2^53, as Lua
// numbers are doubles).
const maxSeq = 1 << 53

// newEpoch returns a fresh random name for an epoch or a node.
func newEpoch() string { return string(appendEpoch(nil)) }
