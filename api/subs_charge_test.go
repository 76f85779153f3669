package api_test

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

// A token's subs claim takes one command a topic from its address's
// budget as the connection opens, over WebSocket as over SSE: one token
// presented again and again, each connection held, is refused 429
// rate_limited once its subs no longer fit, before the upgrade, where a
// WebSocket's were free and every connect went through.
func TestTokenSubsCountAsTheConnectionOpens(t *testing.T) {
	const subs, held = 4, 3
	subsToken := claimsToken(t, "u", jwt.MapClaims{
		"subs": []string{"a", "b", "c", "d"}, "allow": map[string][]string{"subscribe": {"a"}}})
	for _, path := range []string{"ws", "sse"} {
		t.Run(path, func(t *testing.T) {
			// One command a second: the few the test earns are less than a topic's worth of connects.
			conns := connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: subs*held + subs/2})
			n := startNode(t, api.Config{Tokens: hsVerifier(t), Conns: conns}, nil)
			open := func() *reply {
				if path == "ws" {
					c, err := dialURL(t, n.wsURL+"?token="+subsToken, dialer{})
					if r, ok := err.(*refused); ok {
						return &r.reply
					} else if err != nil {
						t.Fatal(err)
					}
					c.read() // welcome
					return nil
				}
				_, r := openSSE(t, n.base, "/sse?topic=a&token="+subsToken)
				return r
			}
			for i := range held {
				if r := open(); r != nil {
					t.Fatalf("connection %d with the budget holding its subs: %d %s", i+1, r.status, r.body)
				}
			}
			r := open()
			if r == nil {
				t.Fatalf("connection %d opened with %d commands of %d left for its %d subs", held+1, subs/2, subs*held+subs/2, subs)
			}
			wantRateLimited(t, *r)
		})
	}
}
