package api_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

// paceBurst is the per-address command burst of these tests, with a rate
// of one command a second: a test that takes a few seconds more than it
// should earns a few more commands, never another burst. Each connection
// stays far under its own rate (startNode: 1,000 a second).
const paceBurst = 12

// paceLimiter budgets each address's commands, with no other limit.
func paceLimiter(t *testing.T, rate int) *limits.ConnLimiter {
	return connLimiter(t, limits.ConnConfig{CommandRate: rate, CommandBurst: paceBurst})
}

// pings sends n pings over clients in turn and counts the pongs and the
// refusals of the address; any other answer fails the test.
func pings(t *testing.T, clients []*wsClient, n int) (ponged, limited int) {
	t.Helper()
	for i := range n {
		r := clients[i%len(clients)].command(fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i))
		switch {
		case bytes.Contains(r, []byte(`"type":"pong"`)):
			ponged++
		case bytes.Contains(r, []byte(`"code":"rate_limited"`)) && bytes.Contains(r, []byte("from this address")):
			if !bytes.Contains(r, []byte(fmt.Sprintf(`"id":"p%d"`, i))) {
				t.Fatalf("refusal %s does not name its command p%d", r, i)
			}
			limited++
		default:
			t.Fatalf("ping %d answered %s", i, r)
		}
	}
	return ponged, limited
}

func connectAll(t *testing.T, url string, d dialer, n int) []*wsClient {
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = mustConnect(t, url, d)
	}
	return clients
}

// Many connections of one address, each far under its own rate, are
// together refused past the address's burst, answered rate_limited and
// left open (more refusals in a row than close a connection with 4003
// for failed commands); another address keeps its whole budget. Over
// TLS the budget is the one its connection was counted for at accept
// too, under the TLS layer.
func TestConnectionsOfOneAddressShareACommandBudget(t *testing.T) {
	for _, tc := range plainAndTLS(t) {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, api.Config{TLS: tc.server, Conns: paceLimiter(t, 1)}, nil)
			clients := connectAll(t, n.wsURL, dialer{from: "127.0.0.1", tls: tc.client}, 4)
			const sent = 4 * 2 * paceBurst
			ponged, limited := pings(t, clients, sent)
			if ponged < paceBurst || limited == 0 || ponged+limited != sent {
				t.Fatalf("%d pongs and %d refusals of %d pings, want the burst of %d and refusals past it", ponged, limited, sent, paceBurst)
			}
			for i, c := range clients { // every one was refused more than 10 times in a row
				if r := c.command(`{"type":"ping","id":"still"}`); !bytes.Contains(r, []byte(`"id":"still"`)) {
					t.Fatalf("client %d answered %s after its refusals", i, r)
				}
			}
			other := connectAll(t, n.wsURL, dialer{from: "127.0.0.2", tls: tc.client}, 2)
			if ponged, limited := pings(t, other, paceBurst); ponged != paceBurst || limited != 0 {
				t.Fatalf("another address: %d pongs and %d refusals of its burst of %d", ponged, limited, paceBurst)
			}
			if st := n.broker.Stats(); st.RateLimitedAddress < uint64(limited) || st.RateLimitedConnection != 0 {
				t.Fatalf("stats count %d refusals by the address (want at least %d) and %d by the connection",
					st.RateLimitedAddress, limited, st.RateLimitedConnection)
			}
		})
	}
}

// Behind a trusted proxy each client address of X-Forwarded-For has its
// own budget, and the proxy's own connections theirs.
func TestForwardedClientsHaveBudgetsApart(t *testing.T) {
	trusted, err := limits.NewClientIP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{ClientIP: trusted, Conns: paceLimiter(t, 1)}, nil)
	spent := connectAll(t, n.wsURL, forwarded("192.0.2.1"), 3)
	if _, limited := pings(t, spent, 3*paceBurst); limited == 0 {
		t.Fatal("no refusal past one forwarded address's burst")
	}
	for _, d := range []dialer{forwarded("192.0.2.2"), {}} {
		if ponged, _ := pings(t, connectAll(t, n.wsURL, d, 2), paceBurst); ponged != paceBurst {
			t.Fatalf("%v: %d pongs of a burst of %d, after another forwarded address spent its own", d.header, ponged, paceBurst)
		}
	}
}

// A CommandRate of 0 budgets nothing per address: only each connection's
// own rate applies.
func TestNoCommandRateBudgetsNothing(t *testing.T) {
	n := startNode(t, api.Config{Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 100})}, nil)
	clients := connectAll(t, n.wsURL, dialer{from: "127.0.0.1"}, 4)
	if ponged, _ := pings(t, clients, 8*paceBurst); ponged != 8*paceBurst {
		t.Fatalf("%d pongs of %d pings with no budget per address", ponged, 8*paceBurst)
	}
}

// An address's budget is kept while it holds a connection, and after its
// last until it has had time to fill (no connect rate here, whose bucket
// would keep it too): a connection opened once the others closed finds
// it as they left it, spent, rather than a full burst.
func TestCommandBudgetOutlivesTheLastConnection(t *testing.T) {
	conns := paceLimiter(t, 1)
	n := startNode(t, api.Config{Conns: conns}, nil)
	clients := connectAll(t, n.wsURL, dialer{from: "127.0.0.1"}, 3)
	pings(t, clients, 2*paceBurst)
	for _, c := range clients {
		c.conn.Close()
	}
	// Their slots, not only their sessions, must be given back before the
	// next connection comes: the session count reaches 0 a moment before.
	local := netip.MustParseAddr("127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for conns.Open(local) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 10 s after their clients closed them", conns.Open(local))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := conns.Tracked(); got != 1 {
		t.Fatalf("%d addresses tracked once the connections of one that spent its budget closed, want 1", got)
	}
	if ponged, _ := pings(t, connectAll(t, n.wsURL, dialer{from: "127.0.0.1"}, 1), paceBurst); ponged > 2 {
		t.Fatalf("a new connection of an address that spent its budget and closed every connection got %d pongs of %d pings, want the rate's, 2 at most",
			ponged, paceBurst)
	}
}
