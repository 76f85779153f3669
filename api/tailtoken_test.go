package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/herald-broker/herald/api"
)

// tailToken asks n for a tail token with key.
func tailToken(t *testing.T, n *node, key string) string {
	t.Helper()
	var r struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	n.post(t, "/api/tail-token", "", "Authorization", "Bearer "+key).wantOK(t, &r)
	if r.Token == "" || r.ExpiresIn <= 0 {
		t.Fatalf("tail token reply %+v", r)
	}
	return r.Token
}

// The API key is enough to listen on /ws while client JWTs are required:
// the tail token it buys subscribes to anything, publishes nothing, and
// is taken by every node that has the same keys.
func TestTailTokenListensWithTheAPIKeyOnly(t *testing.T) {
	cfg := api.Config{APIKeys: []string{"k1", "k2"}, Tokens: hsVerifier(t)}
	a := startNode(t, cfg, nil)
	b := startNode(t, cfg, nil)

	a.post(t, "/api/tail-token", "").wantError(t, http.StatusUnauthorized, "unauthorized")
	a.post(t, "/api/tail-token", "", "Authorization", "Bearer nope").wantError(t, http.StatusUnauthorized, "unauthorized")
	a.get(t, "/api/tail-token", "Authorization", "Bearer k1").wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")

	token := tailToken(t, a, "k2")
	for _, n := range []*node{a, b} {
		c := mustConnect(t, n.wsURL+"?token="+token, dialer{})
		c.subscribe(">")
		wantReply(t, c.command(`{"type":"publish","id":"p","topic":"chat.a","data":1}`), "error", "forbidden")
		n.post(t, "/api/publish", `{"topic":"chat.a","data":"from a backend"}`, "Authorization", "Bearer k1")
		if m := c.read(); !strings.Contains(string(m), `"from a backend"`) {
			t.Fatalf("the listener on %s got %s", n.base, m)
		}
	}

	// A node with other keys does not take it, nor does anyone a token
	// whose mac was changed.
	other := startNode(t, api.Config{APIKeys: []string{"k3"}, Tokens: hsVerifier(t)}, nil)
	msg := mustRefuse(t, other.wsURL+"?token="+token, dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(msg, "tail token") {
		t.Errorf("refusal %q does not name the tail token", msg)
	}
	tampered := token[:len(token)-2] + "xx"
	if strings.HasSuffix(token, "xx") { // else nothing would change (1 token in 4,096)
		tampered = token[:len(token)-2] + "yy"
	}
	mustRefuse(t, a.wsURL+"?token="+tampered, dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
	later := strings.Replace(token, "htt1.1", "htt1.2", 1) // an exp pushed far out
	mustRefuse(t, a.wsURL+"?token="+later, dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
}

// A dashboard served by another node may ask for a tail token: the
// preflight allows POST with the key.
func TestTailTokenPreflight(t *testing.T) {
	n := startNode(t, api.Config{APIKeys: []string{"k1"}}, nil)
	r := n.do(t, http.MethodOptions, "/api/tail-token", "", "Origin", "http://elsewhere",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Methods") != "POST" ||
		r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight %d %v", r.status, r.header)
	}
}
