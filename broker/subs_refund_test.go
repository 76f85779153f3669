package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// claimBudget is an address's command budget that allows every command
// and counts apart those taken one by one (AllowCommand: PaceSubs),
// those taken at once (SpendCommands: a close, a resume) and those
// given back.
type claimBudget struct {
	allowed, spent, given atomic.Int64
	claimed               int64 // allowed as the claim was counted (connectClaim)
}

func (p *claimBudget) AllowCommand(int64) bool { p.allowed.Add(1); return true }

func (p *claimBudget) SpendCommands(_ int64, n int) { p.spent.Add(int64(n)) }

func (p *claimBudget) GiveBackCommands(_ int64, n int) { p.given.Add(int64(n)) }

// readTimeout is a read that timed out, its command maybe run
// (addMayHaveRun), answered internal: a server subscribe does not try it
// again.
type readTimeout struct{}

func (readTimeout) Error() string { return "read: i/o timeout" }
func (readTimeout) Timeout() bool { return true }

// connectClaim connects a session whose subs are counted as a WebSocket's
// are before its upgrade (PaceSubs), what was taken going with it.
func connectClaim(t *testing.T, b *Broker, budget *claimBudget, subs []string) *client {
	t.Helper()
	paid, err := b.PaceSubs(budget, "", subs)
	if err != nil {
		t.Fatal(err)
	}
	budget.claimed = budget.allowed.Load()
	return connect(t, b, ClientInfo{Pacer: budget, Subs: subs, SubsPaid: paid})
}

// A WebSocket's subs claim, counted as the connection opened, is given
// back what it was counted for each topic not set up: all of it when the
// connection closed before the claim's job ran or the engine refused
// every try, the topics past the connection's bound, a presence join the
// engine never recorded. What ran stays counted, and the close counts
// the subscriptions it ends.
func TestSubsClaimGivesBackWhatWasNotSetUp(t *testing.T) {
	four := []string{"room.1", "room.2", "a", "b"} // 2 presence topics: 4 + 2*2 commands
	const counted = 4 + 2*PresenceJoinCommands
	for _, tc := range []struct {
		name      string
		cfg       Config
		run       func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget)
		kept, end int64 // commands the claim keeps (allowed less given back), and the close's
	}{
		{"closed before the claim ran", Config{}, func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget) {
			block := make(chan struct{})
			e.mu.Lock()
			e.block = block
			e.mu.Unlock()
			c := connectClaim(t, b, budget, four) // room.1 waits in Subscribe
			waitUntil(t, "room.1 is the session's", func() bool {
				c.s.mu.Lock()
				defer c.s.mu.Unlock()
				return c.s.nsubs == 1
			})
			c.s.Disconnected()
			close(block)
		}, 1 + PresenceJoinCommands, 1}, // room.1's subscribe ran, and its close
		{"engine unavailable, closed meanwhile", Config{}, func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget) {
			e.mu.Lock()
			e.failSubscribe = Unavailable(errors.New("dial tcp: connection refused"))
			e.mu.Unlock()
			c := connectClaim(t, b, budget, four)
			c.s.Disconnected() // ends room.1's tries
		}, 0, 0},
		{"engine unavailable until the claim stops trying", Config{}, func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget) {
			e.mu.Lock()
			e.failSubscribe = Unavailable(errors.New("dial tcp: connection refused"))
			e.mu.Unlock()
			c := connectClaim(t, b, budget, four[:1])
			waitUntil(t, "room.1 given back", func() bool { return budget.given.Load() == 1+PresenceJoinCommands })
			c.s.Disconnected()
		}, 0, 0},
		{"past the connection's bound", Config{MaxSubscriptions: 2}, func(t *testing.T, b *Broker, _ *fakeEngine, budget *claimBudget) {
			c := connectClaim(t, b, budget, four)
			settle(t, c)
			c.s.Disconnected()
		}, counted - 2, 2}, // a and b given back
		{"presence entry never recorded", Config{}, func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget) {
			e.pres.mu.Lock()
			e.pres.failAdd = errors.New("dial tcp: connection refused") // not unavailable: tried once
			e.pres.mu.Unlock()
			c := connectClaim(t, b, budget, four)
			settle(t, c)
			c.s.Disconnected()
		}, 2, 2}, // a and b; room.1 and room.2 not set up, their joins never run
		{"presence entry maybe recorded", Config{}, func(t *testing.T, b *Broker, e *fakeEngine, budget *claimBudget) {
			e.pres.mu.Lock()
			e.pres.failAdd = readTimeout{} // maybe recorded, and removed again
			e.pres.mu.Unlock()
			c := connectClaim(t, b, budget, four)
			settle(t, c)
			c.s.Disconnected()
		}, 2 + 2*PresenceJoinCommands, 2},
		{"all set up", Config{}, func(t *testing.T, b *Broker, _ *fakeEngine, budget *claimBudget) {
			c := connectClaim(t, b, budget, four)
			settle(t, c)
			c.s.Disconnected()
		}, counted, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PresenceTopics = []string{"room.*"}
			b, e := newTestBroker(t, tc.cfg)
			budget := &claimBudget{}
			tc.run(t, b, e, budget)
			b.Close(t.Context()) // every job run or dropped
			if kept := budget.claimed - budget.given.Load(); kept != tc.kept {
				t.Errorf("the claim kept %d commands of the %d it was counted, want %d", kept, budget.claimed, tc.kept)
			}
			if got := budget.spent.Load(); got != tc.end {
				t.Errorf("the close counted %d commands, want %d", got, tc.end)
			}
		})
	}
}

// A close that comes as a topic of the claim is being set up takes its
// subscription with the others and counts its unsubscribe; when the
// engine then refuses the subscribe (here unavailable, as Redis is down
// as a client connects), the node never made the subscription, and the
// unsubscribe is given back with the topic's command and work: the
// address keeps nothing. Kept, the close's one command stayed counted
// for an unsubscribe that never ran.
func TestCloseDuringAClaimTopicsSetupKeepsNothingOfIt(t *testing.T) {
	b, e := newTestBroker(t, Config{PresenceTopics: []string{"room.*"}})
	block := make(chan struct{})
	e.mu.Lock()
	e.block = block
	e.failSubscribe = Unavailable(errors.New("dial tcp: connection refused"))
	e.mu.Unlock()
	budget := &claimBudget{}
	c := connectClaim(t, b, budget, []string{"room.1", "a"}) // room.1 waits in Subscribe
	waitUntil(t, "room.1 is the session's", func() bool {
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		return c.s.nsubs == 1
	})
	c.s.Disconnected() // takes room.1, which the engine then refuses
	if got := budget.spent.Load(); got != 1 {
		t.Fatalf("the close counted %d commands, want 1: room.1 was the session's", got)
	}
	close(block)
	b.Close(t.Context()) // every job run or dropped
	if kept := budget.claimed + budget.spent.Load() - budget.given.Load(); kept != 0 {
		t.Errorf("the address kept %d commands of a claim and a close that made no subscription (claimed %d, close %d, given back %d)",
			kept, budget.claimed, budget.spent.Load(), budget.given.Load())
	}
}

// However a connection's close races its claim's setup, and a second
// give-back of the same claim (as if its upgrade had failed too), no
// claim is given back more than it was counted, nor keeps more than the
// subscriptions its close found held, two commands each (its command
// and the close's unsubscribe): of many connections closed at random
// points, each keeps between 0 and twice what its close counted.
func TestSubsClaimGivenBackOnceWhateverTheClosesRace(t *testing.T) {
	subs := make([]string, 20)
	for i := range subs {
		subs[i] = fmt.Sprintf("t.%d", i)
	}
	b, _ := newTestBroker(t, Config{})
	const conns = 200
	budgets := make([]*claimBudget, conns)
	var wg sync.WaitGroup
	for i := range conns {
		budgets[i] = &claimBudget{}
		paid, err := b.PaceSubs(budgets[i], "", subs)
		if err != nil {
			t.Fatal(err)
		}
		c := connect(t, b, ClientInfo{Pacer: budgets[i], Subs: subs, SubsPaid: paid})
		wg.Add(2)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.N(200)) * time.Microsecond)
			c.s.Disconnected()
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.N(200)) * time.Microsecond)
			b.GiveBackSubs(paid)
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Close(ctx) // every claim's job ran or was dropped
	for i, budget := range budgets {
		allowed, given, spent := budget.allowed.Load(), budget.given.Load(), budget.spent.Load()
		if allowed != int64(len(subs)) {
			t.Fatalf("connection %d: %d commands counted as it connected, want %d", i, allowed, len(subs))
		}
		// A subscription made keeps its command and its close's
		// unsubscribe at most; one never made, neither.
		if kept := allowed + spent - given; kept < 0 || kept > 2*spent {
			t.Fatalf("connection %d: counted %d, its close %d, given back %d: kept %d, want 0 to %d",
				i, allowed, spent, given, kept, 2*spent)
		}
	}
}
