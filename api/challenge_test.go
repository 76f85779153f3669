package api_test

import (
	"net/http"
	"testing"

	"github.com/herald-broker/herald/api"
)

// Every 401 carries a challenge (RFC 9110 section 11.6.1) in the Bearer
// scheme both credentials use (RFC 6750 section 3): realm "herald" for a
// client token on /ws and /sse, "herald-api" for an API key on /api/*;
// error="invalid_token" only when a credential was sent and refused.
func TestUnauthorizedCarriesAChallenge(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t), APIKeys: []string{"k1"}}, nil)
	const (
		clientMissing = `Bearer realm="herald"`
		clientBad     = `Bearer realm="herald", error="invalid_token"`
		keyMissing    = `Bearer realm="herald-api"`
		keyBad        = `Bearer realm="herald-api", error="invalid_token"`
	)
	cases := []struct {
		name, method, path string
		headers            []string
		want               string
	}{
		{"ws without token", "GET", "/ws", nil, clientMissing},
		{"ws with a bad token", "GET", "/ws?token=not-a-jwt", nil, clientBad},
		{"ws with a bad tail token", "GET", "/ws", []string{"Authorization", "Bearer htt1.1.x"}, clientBad},
		{"sse without token", "GET", "/sse?topic=a", nil, clientMissing},
		{"sse with a bad bearer", "GET", "/sse?topic=a", []string{"Authorization", "Bearer x.y.z"}, clientBad},
		{"api without key", "POST", "/api/publish", nil, keyMissing},
		{"api with another scheme", "GET", "/api/stats", []string{"Authorization", "Basic azE6"}, keyMissing},
		{"api with a wrong key", "GET", "/api/topics", []string{"Authorization", "Bearer k2"}, keyBad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := n.do(t, tc.method, tc.path, "", tc.headers...)
			r.wantError(t, http.StatusUnauthorized, "unauthorized")
			if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tc.want)
			}
		})
	}
	// A refused WebSocket handshake is answered the same.
	r := mustRefuse(t, n.wsURL, dialer{})
	if got := r.header.Get("WWW-Authenticate"); got != clientMissing {
		t.Fatalf("handshake: WWW-Authenticate %q, want %q", got, clientMissing)
	}
	// Only a 401 challenges.
	if r := n.get(t, "/api/stats", "Authorization", "Bearer k1"); r.status != http.StatusOK || r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("authorized: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}
