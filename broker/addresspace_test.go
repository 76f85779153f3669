package broker

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// budgetOf is an address's command budget that allows its first left
// commands and counts every one it is asked about.
type budgetOf struct {
	left  atomic.Int64
	asked atomic.Int64
}

func newBudget(n int64) *budgetOf {
	p := &budgetOf{}
	p.left.Store(n)
	return p
}

func (p *budgetOf) AllowCommand(int64) bool {
	p.asked.Add(1)
	return p.left.Add(-1) >= 0
}

// The sessions of one address share its budget: past it their commands
// are answered rate_limited as over their own rate, with the command's id,
// while each is far under its own rate; the refusals do not close the
// connection (4003) however many come in a row, and are counted apart.
func TestSessionsOfOneAddressShareItsBudget(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: 1000})
	budget := newBudget(6)
	clients := []*client{connect(t, b, ClientInfo{Pacer: budget}), connect(t, b, ClientInfo{Pacer: budget})}
	limited := 0
	for i := range 2 * maxFailures {
		c := clients[i%2]
		id := fmt.Sprint("p", i)
		r := c.do(t, id, `{"type":"ping","id":%q}`, id)
		switch {
		case r["type"] == "pong":
		case r["code"] == string(CodeRateLimited) && strings.Contains(r["message"].(string), "address"):
			limited++
		default:
			t.Fatalf("command %d: %v", i, r)
		}
	}
	if want := 2*maxFailures - 6; limited != want {
		t.Errorf("%d commands refused for the address, want %d", limited, want)
	}
	for i, c := range clients {
		if c.code() != 0 {
			t.Errorf("client %d closed %d by refusals of its address", i, c.code())
		}
	}
	st := b.Stats()
	if st.RateLimitedAddress != uint64(limited) || st.RateLimitedConnection != 0 {
		t.Errorf("stats count %d refusals by the address and %d by the connection, want %d and 0",
			st.RateLimitedAddress, st.RateLimitedConnection, limited)
	}
}

// A command its own connection's rate refuses is not taken from the
// address's budget (nor asked of it), and one its address refuses spends
// none of its connection's rate; pings draw on the address's budget too.
func TestConnectionRateComesBeforeTheAddressBudget(t *testing.T) {
	const rate = 5
	b, _ := newTestBroker(t, Config{RateLimit: rate})
	budget := newBudget(0)
	c := connect(t, b, ClientInfo{Pacer: budget})
	for range 4 * rate {
		if c.s.AllowPing() {
			t.Fatal("a ping allowed past its address's budget")
		}
	}
	if budget.asked.Load() != 4*rate {
		t.Fatalf("the address was asked %d times for %d pings", budget.asked.Load(), 4*rate)
	}
	budget.left.Store(1 << 20)
	allowed := 0
	for range 4 * rate {
		if c.s.AllowPing() {
			allowed++
		}
	}
	// The refusals spent nothing of the connection: its whole burst is
	// left (and at most a few tokens earned while the loop ran).
	if allowed < RateBurst(rate) {
		t.Fatalf("%d pings allowed after the address's refusals, want the connection's burst of %d", allowed, RateBurst(rate))
	}
	if asked := budget.asked.Load() - 4*rate; asked != int64(allowed) {
		t.Errorf("the address was asked %d times for %d pings its connection allowed", asked, allowed)
	}
	if st := b.Stats(); st.RateLimitedConnection != uint64(4*rate-allowed) || st.RateLimitedAddress != 4*rate {
		t.Errorf("stats: %d by the connection, %d by the address; want %d and %d",
			st.RateLimitedConnection, st.RateLimitedAddress, 4*rate-allowed, 4*rate)
	}
}
