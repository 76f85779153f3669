package broker

import (
	"errors"
	"slices"
	"testing"
)

// A close that comes while a client's subscribe is being set up counts
// its unsubscribe with the session's others, and keeps it exactly when
// the engine held the subscription, whose unsubscribe the node then
// makes: given back once when the engine refused it (the node made
// nothing), kept when the engine held it and the setup failed after
// (its unsubscribe ran) or went through. The subscribe's own command
// stays counted in every case.
func TestCloseDuringASubscribesSetupKeepsItsUnsubscribeOnlyWhenMade(t *testing.T) {
	unavailable := Unavailable(errors.New("dial tcp: connection refused"))
	for _, tc := range []struct {
		name                     string
		failSubscribe, failLater error
		kept                     int64 // the subscribe's command, and the close's unsubscribe when it ran
		unsubscribes             int   // of the engine
	}{
		{"engine refused", unavailable, nil, 1, 0},
		{"engine held, setup failed after", nil, unavailable, 2, 1},
		{"engine held, setup went through", nil, nil, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, e := newTestBroker(t, Config{})
			block := make(chan struct{})
			e.mu.Lock()
			e.block = block
			e.mu.Unlock()
			budget := &claimBudget{}
			c := connect(t, b, ClientInfo{Pacer: budget})
			c.s.HandleText([]byte(`{"type":"subscribe","id":"s","topic":"a"}`)) // waits in the engine's Subscribe
			waitUntil(t, "a is the session's", func() bool {
				c.s.mu.Lock()
				defer c.s.mu.Unlock()
				return c.s.nsubs == 1
			})
			c.s.Disconnected()
			if got := budget.spent.Load(); got != 1 {
				t.Fatalf("the close counted %d commands, want 1: a was the session's", got)
			}
			e.mu.Lock()
			e.failSubscribe, e.failPosition = tc.failSubscribe, tc.failLater
			e.mu.Unlock()
			close(block)
			b.Close(t.Context()) // every job run
			kept := budget.allowed.Load() + budget.spent.Load() - budget.given.Load()
			if kept != tc.kept {
				t.Errorf("the address kept %d commands (counted %d, close %d, given back %d), want %d",
					kept, budget.allowed.Load(), budget.spent.Load(), budget.given.Load(), tc.kept)
			}
			e.mu.Lock()
			unsubscribes := len(slices.DeleteFunc(slices.Clone(e.calls), func(call string) bool { return call != "unsub a" }))
			e.mu.Unlock()
			if unsubscribes != tc.unsubscribes {
				t.Errorf("the engine was unsubscribed from a %d times, want %d (calls %v)", unsubscribes, tc.unsubscribes, e.calls)
			}
		})
	}
}
