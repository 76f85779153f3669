package memory

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// sized is a publish to topic with n bytes of data.
func sized(topic string, n int) broker.PublishRequest {
	r := req(topic)
	r.Data = bytes.Repeat([]byte("x"), n)
	return r
}

func mustHistory(t *testing.T, e *Engine, topic string, since uint64) broker.HistoryResult {
	t.Helper()
	h, err := e.History(context.Background(), topic, since, 0)
	if err != nil {
		t.Fatalf("History(%q): %v", topic, err)
	}
	return h
}

// checkBudget fails when the engine counts more than its budget.
func checkBudget(t *testing.T, e *Engine) Stats {
	t.Helper()
	s := e.Stats()
	if s.HistoryBytes > s.MaxHistoryBytes || s.HistoryBytes < 0 {
		t.Fatalf("engine counts %d bytes, budget %d", s.HistoryBytes, s.MaxHistoryBytes)
	}
	return s
}

// The attack report's first finding at small scale: publishing to ever new
// topics grew memory without bound. Past the budget the least recently
// published topics lose their history; the newest keep theirs.
func TestBudgetDropsLeastRecentHistoryFirst(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 10, MaxHistoryBytes: 1 << 20})
	const topics = 2000 // 2000 KiB of data: twice the budget
	first := make([]broker.PublishResult, topics)
	for i := range topics {
		first[i] = mustPublish(t, e, sized(fmt.Sprintf("t.%d", i), 1024))
		checkBudget(t, e)
	}
	s := checkBudget(t, e)
	checkAccount(t, e)
	if s.HistoryEvictions == 0 || s.MessagesEvicted == 0 {
		t.Fatalf("no eviction counted: %+v", s)
	}
	for i := range 100 {
		old := fmt.Sprintf("t.%d", i)
		if h := mustHistory(t, e, old, 0); len(h.Messages) != 0 {
			t.Fatalf("%s, among the least recently published, still holds %d messages", old, len(h.Messages))
		}
		newest := fmt.Sprintf("t.%d", topics-1-i)
		h := mustHistory(t, e, newest, 0)
		if len(h.Messages) != 1 || h.Epoch != first[topics-1-i].Epoch {
			t.Fatalf("%s, among the newest, holds %d messages in epoch %q, want its one in %q",
				newest, len(h.Messages), h.Epoch, first[topics-1-i].Epoch)
		}
	}
}

// A topic that only lost its history keeps its seq and epoch: publishes go
// on numbering, and a resume from before the loss is told recovered:false
// because the messages are missing, not because the epoch changed.
func TestBudgetKeepsSeqWhenHistoryGoes(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 10, MaxHistoryBytes: 1 << 20})
	var first broker.PublishResult
	for range 3 {
		first = mustPublish(t, e, req("quiet"))
	}
	for i := range 40 { // 2.5 MiB of history in a few big topics
		mustPublish(t, e, sized(fmt.Sprintf("loud.%d", i%4), 64<<10))
	}
	checkBudget(t, e)
	h := mustHistory(t, e, "quiet", 0)
	if h.Epoch != first.Epoch || h.Seq != 3 || len(h.Messages) != 0 {
		t.Fatalf("quiet after the flood: %+v with %d messages; want epoch %q seq 3 and no messages",
			h.Position, len(h.Messages), first.Epoch)
	}
	if next := mustPublish(t, e, req("quiet")); next.Epoch != first.Epoch || next.Seq != 4 {
		t.Fatalf("quiet's next publish = %+v, want epoch %q seq 4", next, first.Epoch)
	}
}

// A topic larger than the budget keeps its newest messages, a run ending
// at its seq, so a resume finds a suffix or nothing, never a hole.
func TestBudgetTrimsOneTopicOldestFirst(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 100, MaxHistoryBytes: 256 << 10})
	for range 60 {
		mustPublish(t, e, sized("big", 10<<10))
		checkBudget(t, e)
	}
	h := mustHistory(t, e, "big", 0)
	n := len(h.Messages)
	if n == 0 || n >= 25 {
		t.Fatalf("big holds %d messages of 10 KiB in a 256 KiB budget", n)
	}
	for i, m := range h.Messages {
		if m.Seq != h.Seq-uint64(n-1-i) {
			t.Fatalf("message %d has seq %d; want the run ending at %d", i, m.Seq, h.Seq)
		}
	}
}

// The topic states themselves are bounded: ten million one-message topics
// at small scale. Dropped states start a new epoch at their next publish,
// never their old epoch at seq 1 again.
func TestBudgetBoundsTopicStates(t *testing.T) {
	for _, size := range []int{0, 10} {
		t.Run(fmt.Sprintf("history=%d", size), func(t *testing.T) {
			e, _ := testEngine(t, Config{HistorySize: size, MaxHistoryBytes: 256 << 10})
			gone := mustPublish(t, e, req("first"))
			const topics = 20_000
			for i := range topics {
				mustPublish(t, e, req(fmt.Sprintf("t.%d", i)))
			}
			s := checkBudget(t, e)
			checkAccount(t, e)
			if s.TopicEvictions == 0 || s.Topics >= topics/4 || e.TopicCount() != s.Topics {
				t.Fatalf("after %d topics: %+v, %d in the table", topics, s, e.TopicCount())
			}
			if p := mustPosition(t, e, "first"); p.Epoch == gone.Epoch || p.Seq != 0 {
				t.Fatalf("a dropped topic reads as %+v, want a new epoch at seq 0", p)
			}
			if again := mustPublish(t, e, req("first")); again.Epoch == gone.Epoch || again.Seq != 1 {
				t.Fatalf("a dropped topic's next publish = %+v, want a new epoch (not %q) at seq 1", again, gone.Epoch)
			}
		})
	}
}

// Idempotency keys count toward the budget; past the budget a topic's
// oldest keys go like its messages, and are counted.
func TestBudgetCountsIdempotencyKeys(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 1, MaxHistoryBytes: 128 << 10})
	for i := range 5000 {
		mustPublish(t, e, keyed("keys", fmt.Sprint(i)))
		checkBudget(t, e)
	}
	checkAccount(t, e)
	s := e.Stats()
	if s.IdempotencyEvictions == 0 || s.IdempotencyKeys >= 5000 || s.IdempotencyKeys == 0 {
		t.Fatalf("5000 keys in a 128 KiB budget: %+v", s)
	}
	if res := mustPublish(t, e, keyed("keys", "4999")); res.Seq != 5000 {
		t.Fatalf("retry of the newest key = seq %d, want 5000", res.Seq)
	}
}
