package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// refusingHook refuses every subscribe to a room.* topic.
type refusingHook struct{}

func (refusingHook) Asks(p string) (bool, bool) { return Covers("room.*", p), true }
func (refusingHook) AuthorizeSubscribe(context.Context, SubscribeRequest) error {
	return Errorf(CodeForbidden, "no")
}

// What a client's subscribe is counted of its work as it comes (a
// presence join, with webhooks on a new topic's occupancy) is given back
// when that work does not run: the engine refused the subscribe, or the
// presence entry alone, a duplicate sent with the first found the
// subscription made, it was one too many, the subscribe hook said no, or
// the connection closed
// before the subscribe ran. What ran stays counted.
func TestSubscribesGiveBackTheWorkThatDidNotRun(t *testing.T) {
	const both = PresenceJoinCommands + OccupancyCommands
	for _, tc := range []struct {
		name string
		cfg  Config
		run  func(t *testing.T, b *Broker, e *fakeEngine, c *client)
		want int64 // commands left taken (SpendCommands less GiveBackCommands)
	}{
		{"engine unavailable", Config{Events: &eventLog{}}, func(t *testing.T, _ *Broker, e *fakeEngine, c *client) {
			e.mu.Lock()
			e.failSubscribe = Unavailable(context.DeadlineExceeded)
			e.mu.Unlock()
			for _, topic := range []string{"room.1", "room.1", "new"} {
				if r := c.do(t, topic, `{"type":"subscribe","id":%q,"topic":%q}`, topic, topic); r["type"] != "error" {
					t.Fatalf("subscribe %s with the engine down: %v", topic, r)
				}
			}
		}, 0},
		{"presence entry refused", Config{Events: &eventLog{}}, func(t *testing.T, _ *Broker, e *fakeEngine, c *client) {
			e.pres.mu.Lock()
			e.pres.failAdd = Unavailable(errors.New("dial tcp: connection refused")) // never sent
			e.pres.mu.Unlock()
			if r := c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`); r["type"] != "error" {
				t.Fatalf("subscribe with presence refused: %v", r)
			}
		}, OccupancyCommands}, // the node held the topic and gave it up
		// An add that timed out may have been recorded, and is removed
		// again: the engine did the join's work and its leave's.
		{"presence entry timed out", Config{Events: &eventLog{}}, func(t *testing.T, _ *Broker, e *fakeEngine, c *client) {
			e.pres.mu.Lock()
			e.pres.failAdd = Unavailable(context.DeadlineExceeded)
			e.pres.mu.Unlock()
			if r := c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`); r["type"] != "error" {
				t.Fatalf("subscribe with presence timing out: %v", r)
			}
		}, both},
		{"presence entry's outcome unknown", Config{}, func(t *testing.T, _ *Broker, e *fakeEngine, c *client) {
			e.pres.mu.Lock()
			e.pres.failAdd = OutcomeUnknown(errors.New("read: connection reset"), "unavailable")
			e.pres.mu.Unlock()
			if r := c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`); r["type"] != "error" {
				t.Fatalf("subscribe with presence's outcome unknown: %v", r)
			}
		}, PresenceJoinCommands},
		{"duplicate sent together", Config{Events: &eventLog{}}, func(t *testing.T, _ *Broker, _ *fakeEngine, c *client) {
			c.s.HandleText([]byte(`{"type":"subscribe","id":"a","topic":"room.1"}`))
			c.s.HandleText([]byte(`{"type":"subscribe","id":"b","topic":"room.1"}`))
			for _, id := range []string{"a", "b"} {
				if r := c.reply(t, id); r["type"] != "subscribed" {
					t.Fatalf("subscribe %s: %v", id, r)
				}
			}
		}, both},
		{"too many subscriptions", Config{Events: &eventLog{}, MaxSubscriptions: 1}, func(t *testing.T, _ *Broker, _ *fakeEngine, c *client) {
			c.do(t, "a", `{"type":"subscribe","id":"a","topic":"a"}`)
			if r := c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`); r["code"] != "too_many_subscriptions" {
				t.Fatalf("subscribe past the connection's bound: %v", r)
			}
		}, OccupancyCommands}, // a's
		{"subscribe hook says no", Config{Events: &eventLog{}, Subscribe: refusingHook{}}, func(t *testing.T, _ *Broker, _ *fakeEngine, c *client) {
			if r := c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`); r["type"] != "error" {
				t.Fatalf("subscribe the hook refuses: %v", r)
			}
		}, 0},
		{"closed before they ran", Config{}, func(t *testing.T, _ *Broker, e *fakeEngine, c *client) {
			block := make(chan struct{})
			e.mu.Lock()
			e.block = block
			e.mu.Unlock()
			c.s.HandleText([]byte(`{"type":"subscribe","id":"x","topic":"x"}`)) // waits in Subscribe
			waitUntil(t, "x is the session's", func() bool {
				c.s.mu.Lock()
				defer c.s.mu.Unlock()
				return c.s.nsubs == 1
			})
			for _, topic := range []string{"room.1", "room.2"} {
				c.s.HandleText([]byte(`{"type":"subscribe","id":"` + topic + `","topic":"` + topic + `"}`))
			}
			c.s.Disconnected()
			close(block)
		}, 1}, // the close, for x
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PresenceTopics = []string{"room.*"}
			b, e := newTestBroker(t, tc.cfg)
			budget := &spendingBudget{}
			c := connect(t, b, ClientInfo{Pacer: budget})
			tc.run(t, b, e, c)
			b.Close(t.Context()) // every command answered or dropped
			if got := budget.spent.Load(); got != tc.want {
				t.Fatalf("%d commands left taken, want %d", got, tc.want)
			}
		})
	}
}

// A subscribe given back the occupancy it claimed leaves the topic to be
// counted it again: the next subscribe that makes the node hold it is.
func TestOccupancyGivenBackIsCountedAgain(t *testing.T) {
	b, e := newTestBroker(t, Config{Events: &eventLog{}})
	budget := &spendingBudget{}
	c := connect(t, b, ClientInfo{Pacer: budget})
	e.mu.Lock()
	e.failSubscribe = Unavailable(context.DeadlineExceeded)
	e.mu.Unlock()
	if r := c.do(t, "a", `{"type":"subscribe","id":"a","topic":"new"}`); r["type"] != "error" {
		t.Fatalf("subscribe with the engine down: %v", r)
	}
	e.mu.Lock()
	e.failSubscribe = nil
	e.mu.Unlock()
	if r := c.do(t, "b", `{"type":"subscribe","id":"b","topic":"new"}`); r["type"] != "subscribed" {
		t.Fatalf("subscribe with the engine back: %v", r)
	}
	if got := budget.spent.Load(); got != OccupancyCommands {
		t.Fatalf("%d commands taken, want %d: the occupancy once", got, OccupancyCommands)
	}
}

// waitUntil waits up to 10 seconds for cond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// countedBudget is an address's command budget of left commands, which
// it may owe past none (SpendCommands) and is given back.
type countedBudget struct{ left atomic.Int64 }

func (p *countedBudget) AllowCommand(int64) bool {
	if p.left.Add(-1) >= 0 {
		return true
	}
	p.left.Add(1)
	return false
}
func (p *countedBudget) SpendCommands(_ int64, n int)    { p.left.Add(-int64(n)) }
func (p *countedBudget) GiveBackCommands(_ int64, n int) { p.left.Add(int64(n)) }

// An SSE stream the engine fails to open is given back what its topics
// were counted of their work (each keeps its one command), and one its
// address's budget refuses is given back all it took, its topics' claims
// to occupancy with it: nothing of it ran.
func TestStreamsGiveBackTheWorkThatDidNotRun(t *testing.T) {
	b, e := newTestBroker(t, Config{Events: &eventLog{}, PresenceTopics: []string{"room.*"}})
	topics := []string{"room.1", "new", "x.*"}
	budget := &countedBudget{}
	budget.left.Store(100)
	e.mu.Lock()
	e.failSubscribe = Unavailable(context.DeadlineExceeded)
	e.mu.Unlock()
	if _, err := b.OpenStream(t.Context(), ClientInfo{Pacer: budget}, topics, ""); CodeOf(err) != CodeUnavailable {
		t.Fatalf("a stream with the engine down: %v, want unavailable", err)
	}
	if left := budget.left.Load(); left != 100-int64(len(topics)) {
		t.Fatalf("%d commands left of 100 after a stream of %d topics failed, want one a topic taken", left, len(topics))
	}
	e.mu.Lock()
	e.failSubscribe = nil
	e.mu.Unlock()

	budget.left.Store(8) // room.1 and new hold 9
	if _, err := b.OpenStream(t.Context(), ClientInfo{Pacer: budget}, topics, ""); CodeOf(err) != CodeRateLimited {
		t.Fatalf("a stream past the budget: %v, want rate_limited", err)
	}
	if left := budget.left.Load(); left != 8 {
		t.Fatalf("%d commands left of 8 after a stream was refused, want all", left)
	}
	spender := &spendingBudget{}
	c := connect(t, b, ClientInfo{Pacer: spender})
	c.do(t, "s", `{"type":"subscribe","id":"s","topic":"new"}`)
	if got := spender.spent.Load(); got != OccupancyCommands {
		t.Fatalf("a subscribe of a topic a refused stream named took %d more, want its occupancy's %d", got, OccupancyCommands)
	}
}
