package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/herald-broker/herald/api"
)

func TestCORSWithoutOriginListAllowsAny(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	for _, path := range []string{"/api/stats", "/api/topics"} {
		r := n.get(t, path, "Origin", "https://dash.example")
		if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d, Access-Control-Allow-Origin %q", path, r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		p := n.do(t, http.MethodOptions, path, "",
			"Origin", "https://dash.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
		if p.status != http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != "*" ||
			p.header.Get("Access-Control-Allow-Headers") != "Authorization" || p.header.Get("Access-Control-Allow-Methods") == "" {
			t.Fatalf("%s preflight: %d %v", path, p.status, p.header)
		}
	}
}

func TestCORSFollowsTheOriginList(t *testing.T) {
	n := startNode(t, api.Config{AllowedOrigins: []string{"https://dash.example"}, APIKeys: []string{"k"}}, nil)
	r := n.get(t, "/api/stats", "Origin", "https://dash.example", "Authorization", "Bearer k")
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "https://dash.example" || r.header.Get("Vary") != "Origin" {
		t.Fatalf("listed origin: %d %v", r.status, r.header)
	}
	// The key still guards the answer; CORS only lets the page read it.
	r = n.get(t, "/api/topics", "Origin", "https://dash.example")
	r.wantError(t, http.StatusUnauthorized, "unauthorized")
	if r.header.Get("Access-Control-Allow-Origin") != "https://dash.example" {
		t.Fatal("a refusal the page should read has no CORS header")
	}
	p := n.do(t, http.MethodOptions, "/api/topics", "", "Origin", "https://dash.example", "Access-Control-Request-Method", "GET")
	if p.status != http.StatusNoContent || p.header.Get("Access-Control-Allow-Headers") != "Authorization" {
		t.Fatalf("preflight without a key: %d %v", p.status, p.header)
	}
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		r := n.do(t, method, "/api/stats", "", "Origin", "https://evil.example", "Authorization", "Bearer k")
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Headers") != "" {
			t.Fatalf("%s from a foreign origin: %v", method, r.header)
		}
	}
}

// Backends call the other routes; a browser page has no business there.
func TestNoCORSOnBackendRoutes(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	r := n.post(t, "/api/publish", `{"topic":"a","data":1}`, "Origin", "https://dash.example")
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("publish: %d %v", r.status, r.header)
	}
	for _, path := range []string{"/api/publish", "/api/history", "/api/batch"} {
		p := n.do(t, http.MethodOptions, path, "", "Origin", "https://dash.example", "Access-Control-Request-Method", "POST")
		p.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if p.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s preflight: %v", path, p.header)
		}
	}
}

// herald.js and its types are imported by pages of other origins, under
// the same origin rules as the dashboard's routes.
func TestCORSOnTheClientFiles(t *testing.T) {
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("export {};")) })
	open := startNode(t, api.Config{Files: files}, nil)
	listed := startNode(t, api.Config{Files: files, AllowedOrigins: []string{"https://app.example"}}, nil)
	for _, path := range []string{"/herald.js", "/herald.d.ts"} {
		if got := open.get(t, path, "Origin", "https://app.example").header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s with no origin list: Access-Control-Allow-Origin %q, want *", path, got)
		}
		if got := listed.get(t, path, "Origin", "https://app.example").header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Errorf("%s from a listed origin: %q", path, got)
		}
		if got := listed.get(t, path, "Origin", "https://evil.example").header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s from a foreign origin: %q", path, got)
		}
	}
	if got := open.get(t, "/index.html", "Origin", "https://app.example").header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("the dashboard page has CORS: %q", got)
	}
}

// A page reads why /ws refused it, whatever its origin: the refusal a
// WebSocket shows only as 1006 (herald.js asks again over plain HTTP).
func TestWSRefusalsAreReadableByPages(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t), AllowedOrigins: []string{"https://app.example"}}, nil)
	r := n.get(t, "/ws?token=bad", "Origin", "https://app.example")
	r.wantError(t, http.StatusUnauthorized, "unauthorized")
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("401: Access-Control-Allow-Origin %q, want *", r.header.Get("Access-Control-Allow-Origin"))
	}
	r = n.get(t, "/ws?token=bad", "Origin", "https://evil.example")
	r.wantError(t, http.StatusForbidden, "forbidden")
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("403: Access-Control-Allow-Origin %q, want *", r.header.Get("Access-Control-Allow-Origin"))
	}
}

// A plain GET that passes every check gets a 400 a page of another
// origin may read, and not as a JSON refusal, so that herald.js learns the
// node answered and refused nothing (and falls back to SSE).
func TestWSPlainGetThatPassesIsReadableByPages(t *testing.T) {
	n := startNode(t, api.Config{AllowedOrigins: []string{"https://app.example"}}, nil)
	r := n.get(t, "/ws", "Origin", "https://app.example")
	if r.status != http.StatusBadRequest || strings.Contains(r.header.Get("Content-Type"), "json") {
		t.Errorf("status %d, Content-Type %q: want 400, not JSON", r.status, r.header.Get("Content-Type"))
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("400: Access-Control-Allow-Origin %q, want *", r.header.Get("Access-Control-Allow-Origin"))
	}
}
