package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
)

// A client whose token's subs are counted as it connects, and that closes
// before the node set them up (here Redis is down, so none is), is given
// back what they were counted: it connects again as soon as its close is
// seen, over and over. Kept, each connect took a claim's worth of a burst
// that holds one and a bit, and the next waited for the budget to fill
// with most of a claim at one command a second (25 s when a claim was 30).
func TestSubsOfAConnectionClosedBeforeTheirSetupAreGivenBack(t *testing.T) {
	const topics, connects = 10, 5
	const claim = topics * (1 + broker.PresenceJoinCommands + broker.MemberChangeCommands) // signed in as u
	const burst = claim + topics/2
	subs := make([]string, topics)
	for i := range subs {
		subs[i] = fmt.Sprintf("room.%d", i)
	}
	tok := claimsToken(t, "u", jwt.MapClaims{"subs": subs})
	srv := redistest.Start(t)
	n := nodetest.Start(t, nodetest.Options{Engine: redisEngine(t, srv.URL()), Node: heraldnode.Config{
		NodeID: "test-node", MaxMessageBytes: testMaxMessageBytes, Tokens: hsVerifier(t),
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		// One command a second: a claim's worth takes a minute to come back.
		API: api.Config{Conns: connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})},
	}})
	srv.Stop() // every subscribe of the claim is answered unavailable, and tried again until the close
	for i := range connects {
		waitClaimFits(t, n.Base+"/ws?token="+tok, i)
		c := mustConnect(t, n.WS+"?token="+tok, dialer{})
		c.conn.Close()
	}
}

// waitClaimFits waits, up to 15 s, until the plain GET of url (a /ws with
// a token whose subs are counted) is no longer refused 429: the address's
// budget holds the claim again, as it does once the connection before it
// was given back what it did not set up.
func waitClaimFits(t *testing.T, url string, connects int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d connections closed before their subs were set up, "+
				"the address was still refused 429 for its claim 15 s later", connects)
		}
	}
}
