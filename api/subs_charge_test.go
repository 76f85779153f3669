package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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
	const subs, held = 40, 3
	subsToken := claimsToken(t, "u", jwt.MapClaims{
		"subs": subsTopics(subs), "allow": map[string][]string{"subscribe": {"a"}}})
	for _, path := range []string{"ws", "sse"} {
		t.Run(path, func(t *testing.T) {
			// One command a second: the test would have to take 20 s to earn a connection's subs.
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

// A plain GET of /ws, which herald.js sends to learn why its WebSocket
// failed, is answered the 429 its upgrade was while the budget does not
// hold its token's subs, not the 400 of "every check passed": herald.js
// takes that 400 for a network that blocks WebSocket, opens again at
// once and, the second time in a row, falls back to SSE for good.
func TestPlainGetOfWSSaysItsSubsDoNotFit(t *testing.T) {
	const subs = 40
	subsToken := claimsToken(t, "u", jwt.MapClaims{"subs": subsTopics(subs)})
	// One command a second: the test would have to take 20 s to earn a connection's subs.
	conns := connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: subs + subs/2})
	n := startNode(t, api.Config{Tokens: hsVerifier(t), Conns: conns}, nil)
	if r := n.get(t, "/ws?token="+subsToken); r.status != http.StatusBadRequest {
		t.Fatalf("a plain GET with the budget holding its subs: %d %s, want 400", r.status, r.body)
	}
	c, err := dialURL(t, n.wsURL+"?token="+subsToken, dialer{})
	if err != nil {
		t.Fatalf("the first connection: %v", err)
	}
	c.read() // welcome
	_, err = dialURL(t, n.wsURL+"?token="+subsToken, dialer{})
	r, ok := err.(*refused)
	if !ok {
		t.Fatalf("the second connection, %d commands left for its %d subs: %v, want a refusal", subs/2, subs, err)
	}
	wantRateLimited(t, r.reply)
	r2 := n.get(t, "/ws?token="+subsToken, "Origin", "https://app.example")
	wantRateLimited(t, r2)
	if r2.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("429: Access-Control-Allow-Origin %q, want *", r2.header.Get("Access-Control-Allow-Origin"))
	}
}

// A token whose subs count more than its address's burst can never
// connect, however long it waits: it is refused 401 with why, over
// WebSocket and SSE, as a token whose subs name more topics than a
// connection may hold, where a 429 with Retry-After: 1 had herald.js ask
// again for good.
func TestTokenSubsPastTheBurstAreRefused(t *testing.T) {
	const burst = 6
	subsToken := claimsToken(t, "u", jwt.MapClaims{
		"subs": []string{"a", "b", "c", "d", "e", "f", "g"}, "allow": map[string][]string{"subscribe": {"a"}}})
	conns := connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})
	n := startNode(t, api.Config{Tokens: hsVerifier(t), Conns: conns}, nil)
	_, err := dialURL(t, n.wsURL+"?token="+subsToken, dialer{})
	r, ok := err.(*refused)
	if !ok {
		t.Fatalf("a connection whose 7 subs count more than the burst of %d: %v, want a refusal", burst, err)
	}
	for _, got := range []reply{r.reply, n.get(t, "/ws?token="+subsToken)} {
		if msg := got.wantError(t, http.StatusUnauthorized, "unauthorized"); !strings.Contains(msg, "burst") {
			t.Errorf("message %q does not say the burst is what it passes", msg)
		}
	}
	if _, sr := openSSE(t, n.base, "/sse?topic=a&token="+subsToken); sr == nil {
		t.Fatal("a stream whose subs count more than the burst opened")
	} else {
		sr.wantError(t, http.StatusUnauthorized, "unauthorized")
	}
}

// subsTopics names n topics for a subs claim, the first of them "a".
func subsTopics(n int) []string {
	topics := []string{"a"}
	for i := 1; i < n; i++ {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	return topics
}

// An SSE stream whose topics with its token's subs count more than its
// address's burst, though its claim fits alone (a WebSocket connects with
// it), can never open: it is refused 400 too_many_subscriptions naming
// the first topic past the burst, counted after the claim, so that a
// client opens the stream with the rest at once, and the rest does open.
// A 429 with Retry-After: 1 had it asked again for good. Named topics
// alone past the burst are refused the same way.
func TestStreamTopicsWithTheSubsPastTheBurstAreRefused(t *testing.T) {
	const burst = 6
	subsToken := claimsToken(t, "u", jwt.MapClaims{"subs": []string{"a", "b", "c", "d"}, "allow": everything})
	plainToken := hsToken(t, "u", everything)
	for _, tc := range []struct {
		name, path, past string
		claim            bool
	}{
		{"with the subs", "/sse?topic=x&topic=a&topic=y&topic=z&token=" + subsToken, "z", true}, // a is the claim's
		{"alone", "/sse?topic=1&topic=2&topic=3&topic=4&topic=5&topic=6&topic=7&token=" + plainToken, "7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})
			n := startNode(t, api.Config{Tokens: hsVerifier(t), Conns: conns}, nil)
			_, r := openSSE(t, n.base, tc.path)
			if r == nil {
				t.Fatal("a stream past its address's burst opened")
			}
			var body struct {
				Error struct{ Code, Message, Topic string }
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("%d %s: %v", r.status, r.body, err)
			}
			if r.status != http.StatusBadRequest || body.Error.Code != "too_many_subscriptions" || body.Error.Topic != tc.past {
				t.Fatalf("%d %s, want 400 too_many_subscriptions naming %q", r.status, r.body, tc.past)
			}
			if !strings.Contains(body.Error.Message, "burst") {
				t.Errorf("message %q does not say the burst is what it passes", body.Error.Message)
			}
			if named := strings.Contains(body.Error.Message, "subs claim"); named != tc.claim {
				t.Errorf("message %q names a subs claim: %v, want %v", body.Error.Message, named, tc.claim)
			}
			mustOpenSSE(t, n.base, strings.Replace(tc.path, "&topic="+tc.past, "", 1))
		})
	}
}
