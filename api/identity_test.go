package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api"
)

// claimsToken is an HS256 token for an hour with claims added.
func claimsToken(t *testing.T, sub string, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	return token(t, jwt.SigningMethodHS256, testSecret, claims)
}

// What one token can cost is bounded: its info (1 KiB) and its subs (the
// node's subscriptions per connection, here 100) are refused past that
// before the upgrade, with 401 and the reason.
func TestTokenIdentityBounds(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	for name, tc := range map[string]struct {
		claims jwt.MapClaims
		reason string
	}{
		"info over 1 KiB": {jwt.MapClaims{"info": map[string]string{"a": strings.Repeat("x", 1024)}}, "info"},
		"info a string":   {jwt.MapClaims{"info": "Ada"}, "info"},
		"too many subs":   {jwt.MapClaims{"subs": many}, "subs names 101 topics"},
		"a bad sub":       {jwt.MapClaims{"subs": []string{"ok", "a..b"}}, "subs[1]"},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRefuse(t, n.wsURL+"?token="+claimsToken(t, "42", tc.claims), dialer{})
			if msg := r.wantError(t, http.StatusUnauthorized, "unauthorized"); !strings.Contains(msg, tc.reason) {
				t.Errorf("reason %q does not say %q", msg, tc.reason)
			}
		})
	}
	// At the bounds, the token connects.
	atBound := many[:100]
	c := mustConnect(t, n.wsURL+"?token="+claimsToken(t, "42", jwt.MapClaims{
		"info": map[string]string{"a": strings.Repeat("x", 1024-8)}, "subs": atBound}), dialer{})
	for i := range atBound {
		if r := c.read(); !bytes.Contains(r, []byte(`"topic":"`+atBound[i]+`"`)) || !bytes.Contains(r, []byte(`"server":true`)) {
			t.Fatalf("server subscription %d: %s", i, r)
		}
	}
}

// The subs claim subscribes as the connection opens, whatever allow says:
// each announced after welcome, then live messages.
func TestSubsClaimSubscribes(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	c := mustConnect(t, n.wsURL+"?token="+claimsToken(t, "42", jwt.MapClaims{"subs": []string{"user:42.inbox", "news.*"}}), dialer{})
	for _, want := range []string{
		`{"type":"subscribed","topic":"user:42.inbox","epoch":`,
		`{"type":"subscribed","topic":"news.*","server":true}`,
	} {
		if r := c.read(); !bytes.HasPrefix(r, []byte(want)) || !bytes.Contains(r, []byte(`"server":true`)) {
			t.Fatalf("got %s, want %s...", r, want)
		}
	}
	n.post(t, "/api/publish", `{"topic":"user:42.inbox","data":1}`).wantOK(t, &published{})
	if r := c.read(); !bytes.Contains(r, []byte(`"type":"message","topic":"user:42.inbox"`)) {
		t.Fatalf("got %s, want the message", r)
	}
	wantReply(t, c.command(`{"type":"subscribe","id":"1","topic":"other"}`), "error", "forbidden")
}
