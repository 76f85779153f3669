package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
)

// seqChecker is a Handler that checks every topic's deliveries: within an
// epoch seqs grow by one; a new epoch starts at seq 1.
type seqChecker struct {
	mu       sync.Mutex
	last     map[string]broker.Position
	problems []string
	count    int
}

// HandleGap is a breach: the memory engine hands every message over.
func (c *seqChecker) HandleGap(g broker.Gap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf("%s: gap %d-%d", g.Topic, g.From, g.To))
}

func (c *seqChecker) HandleMessage(m *broker.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	prev, seen := c.last[m.Topic]
	switch {
	case seen && prev.Epoch == m.Epoch && m.Seq != prev.Seq+1:
		c.problems = append(c.problems, fmt.Sprintf("%s: seq %d after %d in epoch %s", m.Topic, m.Seq, prev.Seq, m.Epoch))
	case (!seen || prev.Epoch != m.Epoch) && m.Seq != 1:
		c.problems = append(c.problems, fmt.Sprintf("%s: new epoch %s starts at seq %d", m.Topic, m.Epoch, m.Seq))
	}
	c.last[m.Topic] = broker.Position{Epoch: m.Epoch, Seq: m.Seq}
}

// Publishers, readers and a janitor with a TTL of a few milliseconds race
// on a few topics: topics are freed and renewed under them all the time,
// and no delivery may break seq order.
func TestExpiryRacingPublishers(t *testing.T) {
	e := New(Config{HistorySize: 4, HistoryTTL: 2 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	t.Cleanup(func() { closeEngine(t, e) })
	checker := race(t, e, func(ctx context.Context, w, i int) error {
		topic := fmt.Sprintf("t.%d", (i+w)%3)
		if _, err := e.Publish(ctx, req(topic)); err != nil {
			return err
		}
		if i%8 == 0 {
			time.Sleep(3 * time.Millisecond) // let the topic expire now and then
		}
		_, err := e.History(ctx, topic, 0, 0)
		return err
	})
	checker.check(t)
}

// race attaches a seqChecker to e and runs op from 4 goroutines for 300 ms
// (w the goroutine, i its round), failing the test on op's first error.
func race(t *testing.T, e *Engine, op func(ctx context.Context, w, i int) error) *seqChecker {
	t.Helper()
	checker := &seqChecker{last: make(map[string]broker.Position)}
	e.Attach(checker)
	stop := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				if err := op(t.Context(), w, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return checker
}

// check fails the test unless something was delivered, all in seq order.
func (c *seqChecker) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == 0 {
		t.Fatal("no message delivered")
	}
	for _, p := range c.problems {
		t.Error(p)
	}
}

// Publishers on many topics race readers, the janitor and a budget so
// small that every publish evicts: seq order holds (a dropped topic starts
// a new epoch at seq 1), and once quiet the account matches the topics.
func TestBudgetRacingPublishers(t *testing.T) {
	e := New(Config{HistorySize: 8, HistoryTTL: 5 * time.Millisecond, MaxHistoryBytes: 64 << 10,
		IdempotencyKeysPerTopic: 4, Logger: zaptest.NewLogger(t)})
	t.Cleanup(func() { closeEngine(t, e) })
	checker := race(t, e, func(ctx context.Context, w, i int) error {
		r := sized(fmt.Sprintf("t.%d", (i*7+w)%200), 100*(i%16))
		if i%3 == 0 {
			r.IdempotencyKey = fmt.Sprint(i % 50)
		}
		if _, err := e.Publish(ctx, r); err != nil {
			return err
		}
		_, err := e.History(ctx, r.Topic, 0, 0)
		return err
	})
	mustPublish(t, e, req("last")) // nothing is in use now: this one reclaims fully
	checkBudget(t, e)
	checkAccount(t, e)
	checker.check(t)
}

// checkAccount fails unless every topic in the table is charged what it
// holds, on the list its history calls for, and the budget's totals are
// the sums of its topics'. It takes the locks in the engine's order
// (table shards, then topics, then the budget), so the janitor, which may
// still run, skips the topics held here instead of deadlocking with it.
func checkAccount(t *testing.T, e *Engine) {
	t.Helper()
	for i := range e.topics.shards {
		e.topics.shards[i].mu.RLock()
		defer e.topics.shards[i].mu.RUnlock()
	}
	var all []*topic
	for i := range e.topics.shards {
		for _, tp := range e.topics.shards[i].topics {
			tp.mu.Lock()
			defer tp.mu.Unlock()
			all = append(all, tp)
		}
	}
	b := e.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	var used, hist, keys int64
	for _, tp := range all {
		cost, onHist, list := tp.cost(), tp.history.n > 0, tp.list
		if tp.dead.Load() {
			t.Fatalf("%s: dead but still in the table", tp.name)
		}
		if cost != tp.charged || list == nil || (list == &b.hist) != onHist {
			t.Fatalf("%s: costs %d, charged %d, on hist %v, holds history %v", tp.name, cost, tp.charged, list == &b.hist, onHist)
		}
		used += cost
		keys += int64(tp.keys.len())
		if onHist {
			hist += cost
		}
	}
	if used != b.used || hist != b.hist.bytes || used-hist != b.bare.bytes || len(all) != b.topics || keys != int64(b.keys) {
		t.Fatalf("budget counts %d bytes (hist %d, bare %d), %d topics, %d keys; the topics hold %d (hist %d), %d topics, %d keys",
			b.used, b.hist.bytes, b.bare.bytes, b.topics, b.keys, used, hist, len(all), keys)
	}
}

func (c *seqChecker) HandlePresence(broker.PresenceChange) {}
func (c *seqChecker) HandleControl(broker.Control)         {}
