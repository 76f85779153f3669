// Package enginetest is the contract every broker.Engine keeps, written once
// and run against each engine through a factory (store/memory, store/redis).
//
// The suite assumes only what broker.Engine promises: it attaches its own
// Handler first, subscribes before it expects delivery, and waits for
// asynchronous delivery with a deadline. An engine may deliver only topics
// that match a prior Subscribe, and may deliver from another goroutine.
//
// What the suite holds every engine to, beyond the interface's comments:
//   - once Subscribe returns nil, every later publish to a matching topic
//     reaches the Handler (no window while the subscription settles);
//   - Position and History of a topic with no state start an epoch at seq 0
//     that the next publish continues, and reading never extends a topic's
//     life: HistoryTTL counts from the last publish (or that start);
//   - an idempotency key belongs to its topic: the same key on another
//     topic is another publish;
//   - the Handler may call History, and finds the message it was handed;
//   - an empty topic and an already cancelled context are errors.
package enginetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Config are the engine settings the suite varies between subtests.
type Config struct {
	HistorySize int           // messages kept per topic; 0 keeps none
	HistoryTTL  time.Duration // how long a topic's state outlives its last publish
}

// The settings most subtests run with: a TTL long enough never to pass
// during a subtest.
const (
	defaultHistorySize = 100
	defaultHistoryTTL  = time.Minute
)

// waitTimeout bounds every wait for asynchronous delivery or expiry. It is
// a deadline, not a timing assertion: a healthy engine finishes far sooner.
const waitTimeout = 10 * time.Second

// Run runs the whole contract against engines built by newEngine, with
// subtests in parallel. newEngine builds a fresh engine for cfg with a key
// space of its own (no state or channel shared with any other engine it
// built) and registers its cleanup with t.Cleanup. It must not call Attach:
// the suite does that first.
func Run(t *testing.T, newEngine func(t *testing.T, cfg Config) broker.Engine) {
	s := &suite{newEngine: newEngine}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"SeqStartsAtOneAndGrowsPerTopic", s.testSeqGrowsPerTopic},
		{"EpochStableWhileHistoryLives", s.testEpochStable},
		{"FreshTopicStartsEpochAtZero", s.testFreshTopicPosition},
		{"FreshTopicHistoryStartsEpochAtZero", s.testFreshTopicHistory},
		{"HistorySinceAndLimit", s.testHistorySinceLimit},
		{"HistoryKeepsOnlyLastHistorySize", s.testHistoryRing},
		{"ResumeHistoryWithinItsBudget", s.testResumeHistory},
		{"HistorySizeZeroKeepsNothing", s.testHistoryOff},
		{"TopicStateExpiresAfterTTL", s.testTTLExpiry},
		{"IdempotencyKeyReturnsFirstResult", s.testIdempotency},
		{"IdempotencyKeyScopedToTopic", s.testIdempotencyPerTopic},
		{"IdempotencyUnderConcurrentRetries", s.testIdempotencyConcurrent},
		{"IdempotencyLongKeys", s.testIdempotencyLongKeys},
		{"ConcurrentPublishersDeliverInSeqOrder", s.testConcurrentPublishers},
		{"InHistoryBeforeHandler", s.testInHistoryBeforeHandler},
		{"SubscribeAcceptsTopicsAndPatterns", s.testSubscribePatterns},
		{"PatternSubscriptionDelivers", s.testPatternDelivery},
		{"MessagePreservedByteForByte", s.testMessagePreserved},
		{"CancelledContextFails", s.testCancelledContext},
		{"EmptyTopicFails", s.testEmptyTopic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newEngine func(t *testing.T, cfg Config) broker.Engine
}

// engine builds an engine with cfg and attaches a fresh recorder to it.
func (s *suite) engine(t *testing.T, cfg Config) (broker.Engine, *recorder) {
	t.Helper()
	e := s.newEngine(t, cfg)
	if e == nil {
		t.Fatal("factory returned a nil engine")
	}
	r := newRecorder()
	e.Attach(r)
	return e, r
}

// defaultEngine builds an engine with the default settings.
func (s *suite) defaultEngine(t *testing.T) (broker.Engine, *recorder) {
	return s.engine(t, Config{HistorySize: defaultHistorySize, HistoryTTL: defaultHistoryTTL})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

var msgCounter atomic.Uint64

// request builds a publish request with a unique ID and a data value that
// names the request, so a test can tell messages apart.
func request(topic string) broker.PublishRequest {
	n := msgCounter.Add(1)
	return broker.PublishRequest{
		Topic: topic,
		Data:  fmt.Appendf(nil, `{"n":%d}`, n),
		ID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		Time:  time.Now().UnixMilli(),
	}
}

func publish(t *testing.T, ctx context.Context, e broker.Engine, req broker.PublishRequest) broker.PublishResult {
	t.Helper()
	res, err := e.Publish(ctx, req)
	if err != nil {
		t.Fatalf("Publish(%q): %v", req.Topic, err)
	}
	return res
}

// publishN publishes n messages to topic and returns their results in order.
func publishN(t *testing.T, ctx context.Context, e broker.Engine, topic string, n int) []broker.PublishResult {
	t.Helper()
	out := make([]broker.PublishResult, n)
	for i := range out {
		out[i] = publish(t, ctx, e, request(topic))
	}
	return out
}

func subscribe(t *testing.T, ctx context.Context, e broker.Engine, pattern string) {
	t.Helper()
	if err := e.Subscribe(ctx, pattern); err != nil {
		t.Fatalf("Subscribe(%q): %v", pattern, err)
	}
}

func history(t *testing.T, ctx context.Context, e broker.Engine, topic string, since uint64, limit int) broker.HistoryResult {
	t.Helper()
	h, err := e.History(ctx, topic, since, limit)
	if err != nil {
		t.Fatalf("History(%q, %d, %d): %v", topic, since, limit, err)
	}
	return h
}

func position(t *testing.T, ctx context.Context, e broker.Engine, topic string) broker.Position {
	t.Helper()
	p, err := e.Position(ctx, topic)
	if err != nil {
		t.Fatalf("Position(%q): %v", topic, err)
	}
	return p
}
