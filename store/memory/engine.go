// Package memory is the broker.Engine for one node: every topic's seq,
// epoch and history ring, and idempotency keys, in this process's memory,
// within one byte budget (Config.MaxHistoryBytes).
// Every published message is handed to the attached Handler, whatever was
// subscribed: on one node the broker's own index decides who gets it.
package memory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// ErrClosed is wrapped (as unavailable) by calls made after Close.
var ErrClosed = errors.New("herald/memory: engine closed")

// Engine keeps topic state in memory. Build it with New; stop it with Close.
type Engine struct {
	cfg      Config
	log      *zap.Logger
	now      func() time.Time
	handler  atomic.Pointer[broker.Handler]
	topics   *table
	budget   *budget
	lives    *lives
	presence *presence
	board    statsBoard // the nodes' stats (statsboard.go): this one's
	webhooks webhookQueue
	members  atomic.Pointer[func(broker.PresenceChange)] // WatchMembers

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close to stop the janitor
	done      chan struct{} // closed by the janitor when it returns
}

var (
	_ broker.Engine       = (*Engine)(nil)
	_ broker.ReadyChecker = (*Engine)(nil)
)

// New builds an engine and starts its janitor, which Close stops. It panics
// when cfg does not pass Validate: settings are checked where they are read.
func New(cfg Config) *Engine {
	return newEngine(cfg, time.Now)
}

func newEngine(cfg Config, now func() time.Time) *Engine {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	livesBytes := cfg.MaxHistoryBytes / livesShare
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      now,
		topics:   newTable(),
		budget:   &budget{limit: cfg.MaxHistoryBytes - livesBytes},
		lives:    newLives(int(livesBytes / livesEntryBytes)),
		presence: newPresence(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go e.runJanitor(cfg.sweepInterval())
	return e
}

// Attach sets the Handler every published message is handed to.
func (e *Engine) Attach(h broker.Handler) { e.handler.Store(&h) }

// Subscribe does nothing: on one node every message goes to the Handler.
func (e *Engine) Subscribe(ctx context.Context, pattern string) error { return ctx.Err() }

// Unsubscribe does nothing, as Subscribe.
func (e *Engine) Unsubscribe(ctx context.Context, pattern string) error { return ctx.Err() }

// Ready returns nil until Close.
func (e *Engine) Ready(ctx context.Context) error { return e.usable(ctx) }

// livesShare: 1/livesShare of MaxHistoryBytes is set aside for the record
// of dropped topics' generations (lives), the rest is the budget's.
const livesShare = 64

// TopicCount returns how many topics the engine holds state for. Only a
// publish creates state.
func (e *Engine) TopicCount() int { return e.topics.len() }

// usable fails when ctx is done or the engine is closed.
func (e *Engine) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return broker.Unavailable(ErrClosed)
	}
	return nil
}

// checkTopic refuses what the broker would, in its words, for callers that
// reach the engine without it.
func checkTopic(topic string) error {
	return broker.CheckTopic(topic) // the broker's one check and wording
}

func (e *Engine) clock() int64 { return e.now().UnixNano() }

func (e *Engine) ttl() int64 { return int64(e.cfg.HistoryTTL) }

// Close stops the janitor and returns once it has stopped. A sweep in
// progress is finished first even when ctx ends (it only frees memory,
// and never waits on anything); then ctx's error is returned. Calls made
// after Close fail with ErrClosed.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.stop)
	})
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		<-e.done
		return ctx.Err()
	}
}
