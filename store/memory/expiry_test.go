package memory

import (
	"fmt"
	"testing"
	"time"
)

const testTTL = 10 * time.Second

func TestIdleTopicsAreFreed(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	const topics = 500
	for i := range topics {
		mustPublish(t, e, req(fmt.Sprintf("t.%d", i)))
	}
	if n := e.TopicCount(); n != topics {
		t.Fatalf("TopicCount = %d, want %d", n, topics)
	}
	clock.advance(testTTL - time.Second)
	e.sweep()
	if n := e.TopicCount(); n != topics {
		t.Fatalf("TopicCount before the TTL = %d, want %d", n, topics)
	}
	clock.advance(time.Second)
	e.sweep()
	if n := e.TopicCount(); n != 0 {
		t.Fatalf("TopicCount after the TTL = %d, want 0", n)
	}
}

func TestPublishKeepsTopicAlive(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	first := mustPublish(t, e, req("alive"))
	for range 3 {
		clock.advance(testTTL * 3 / 4)
		e.sweep()
		mustPublish(t, e, req("alive"))
	}
	p := mustPosition(t, e, "alive")
	if p.Epoch != first.Epoch || p.Seq != 4 {
		t.Fatalf("Position = %+v, want epoch %q seq 4", p, first.Epoch)
	}
}

func TestReadingDoesNotExtendLife(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	first := mustPublish(t, e, req("read"))
	clock.advance(testTTL * 3 / 4)
	if p := mustPosition(t, e, "read"); p.Epoch != first.Epoch {
		t.Fatalf("epoch changed before the TTL: %q, want %q", p.Epoch, first.Epoch)
	}
	clock.advance(testTTL / 2)
	p := mustPosition(t, e, "read")
	if p.Epoch == first.Epoch || p.Seq != 0 {
		t.Fatalf("Position after the TTL = %+v, want a new epoch at seq 0", p)
	}
}

// Expiry does not wait for the janitor: an access after the TTL sees a new
// epoch even when no sweep ran.
func TestExpiryWithoutSweep(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	first := mustPublish(t, e, req("lazy"))
	mustPublish(t, e, req("lazy"))
	clock.advance(testTTL)
	res := mustPublish(t, e, req("lazy"))
	if res.Epoch == first.Epoch || res.Seq != 1 {
		t.Fatalf("publish after the TTL = %+v, want a new epoch at seq 1", res)
	}
	h, err := e.History(t.Context(), "lazy", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Epoch != res.Epoch {
		t.Fatalf("history after renewal holds %d messages, want only the new one", len(h.Messages))
	}
}

// A topic whose publisher is inside the Handler is in use: the janitor
// leaves it even when the clock says it is idle.
func TestSweepSkipsTopicInDelivery(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	inHandler, release := make(chan struct{}), make(chan struct{})
	e.Attach(handlerFunc(func() {
		close(inHandler)
		<-release
	}))
	published := make(chan error, 1)
	go func() {
		_, err := e.Publish(t.Context(), req("busy"))
		published <- err
	}()
	<-inHandler
	clock.advance(2 * testTTL)
	e.sweep()
	if n := e.TopicCount(); n != 1 {
		t.Errorf("TopicCount while delivering = %d, want 1", n)
	}
	close(release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	e.sweep()
	if n := e.TopicCount(); n != 0 {
		t.Fatalf("TopicCount after delivery = %d, want 0", n)
	}
}

// A publisher that got a topic the janitor freed looks it up again instead
// of publishing into state no one can read.
func TestPublishToFreedTopicLooksAgain(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	old := mustPublish(t, e, req("freed"))
	stale := e.topics.lookup("freed", e.lives, e.clock)
	clock.advance(testTTL)
	e.sweep()
	if _, ok := e.publishTo(stale, req("freed")); ok {
		t.Fatal("publishTo a freed topic succeeded")
	}
	if _, ok := e.readPosition(stale); ok {
		t.Fatal("readPosition of a freed topic succeeded")
	}
	res := mustPublish(t, e, req("freed"))
	if res.Epoch == old.Epoch || res.Seq != 1 {
		t.Fatalf("publish after freeing = %+v, want a new epoch at seq 1", res)
	}
}

func TestShardMapShrinksAfterFreeing(t *testing.T) {
	s := &shard{topics: make(map[string]*topic)}
	for i := range 4 * shrinkFloor {
		s.topics[fmt.Sprint(i)] = newTopic(fmt.Sprint(i), 0, "e", 0)
	}
	s.peak = len(s.topics)
	keep := newTopic("keep", 0, "e", 0)
	s.topics["keep"] = keep
	if freed := s.sweep(func(tp *topic) bool { return tp != keep }); freed != 4*shrinkFloor {
		t.Fatalf("freed %d topics, want %d", freed, 4*shrinkFloor)
	}
	if s.peak != 1 || s.topics["keep"] != keep {
		t.Fatalf("after the sweep: peak %d, kept %v; want a rebuilt map holding only the live topic", s.peak, s.topics["keep"] != nil)
	}
}

// A topic past its TTL whose idempotency keys are still young keeps its
// state for them, but not its history; once they expire it is freed. A
// retry meanwhile still finds its first result.
func TestKeysKeepIdleTopicUntilTheyExpire(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL, IdempotencyTTL: 3 * testTTL})
	first := mustPublish(t, e, keyed("kept", "k"))
	clock.advance(testTTL)
	e.sweep()
	if n := e.TopicCount(); n != 1 {
		t.Fatalf("TopicCount with a live key = %d, want 1", n)
	}
	checkAccount(t, e)
	if s := e.Stats(); s.IdempotencyKeys != 1 || e.budget.hist.head != nil {
		t.Fatalf("after the TTL: %+v; want the key kept and no history", s)
	}
	if again := mustPublish(t, e, keyed("kept", "k")); again != first {
		t.Fatalf("retry after the topic's TTL = %+v, want %+v", again, first)
	}
	clock.advance(2 * testTTL)
	e.sweep()
	if n, s := e.TopicCount(), e.Stats(); n != 0 || s.HistoryBytes != 0 || s.IdempotencyKeys != 0 {
		t.Fatalf("after the key's TTL: %d topics, %+v; want nothing held", n, s)
	}
}
