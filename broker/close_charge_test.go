package broker

import (
	"testing"
	"time"
)

// A connection's close takes one command from its address's budget for
// each subscription it ends, topics and patterns alike, as many as the
// unsubscribes would have; once, however many times the close is told;
// and it still releases every one from the engine.
func TestCloseCountsTheSubscriptionsItEnds(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	budget := &spendingBudget{}
	c := connect(t, b, ClientInfo{Pacer: budget})
	for _, topic := range []string{"a", "b", "p.*"} {
		if r := c.do(t, topic, `{"type":"subscribe","id":%q,"topic":%q}`, topic, topic); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", topic, r)
		}
	}
	if got := budget.spent.Load(); got != 0 {
		t.Fatalf("subscribes took %d commands at once, want none", got)
	}
	c.s.Disconnected()
	c.s.Disconnected()
	if got := budget.spent.Load(); got != 3 {
		t.Errorf("a close that ended 3 subscriptions took %d commands from its address's budget, want 3", got)
	}
	for deadline := time.Now().Add(5 * time.Second); e.isActive("a") || e.isActive("b") || e.isActive("p.*"); {
		if time.Now().After(deadline) {
			t.Fatal("the engine still holds subscriptions of the closed connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
