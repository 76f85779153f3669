package broker

import (
	"context"
	"fmt"
	"testing"
)

// A stream's topics are taken from its address's command budget as it
// opens, one each: a stream the budget still covers opens, one past it is
// refused rate_limited with nothing subscribed, and the refusal is
// counted as the address's.
func TestStreamTopicsDrawOnTheAddressBudget(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	budget := newBudget(40)
	topics := make([]string, 32)
	for i := range topics {
		topics[i] = fmt.Sprint("t", i)
	}
	o, err := b.OpenStream(context.Background(), ClientInfo{Pacer: budget}, topics, "")
	if err != nil {
		t.Fatalf("a stream within the budget: %v", err)
	}
	o.Abort()
	if _, err := b.OpenStream(context.Background(), ClientInfo{Pacer: budget}, topics, ""); CodeOf(err) != CodeRateLimited {
		t.Fatalf("a stream past the budget: %v, want rate_limited", err)
	}
	if asked := budget.asked.Load(); asked < 33 {
		t.Errorf("the budget was asked %d times for two streams of 32 topics", asked)
	}
	st := b.Stats()
	if st.Subscriptions != 0 {
		t.Errorf("%d subscriptions left", st.Subscriptions)
	}
	if st.RateLimitedAddress != 1 {
		t.Errorf("%d refusals counted for the address, want 1", st.RateLimitedAddress)
	}
}
