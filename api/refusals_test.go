package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// wantRefusal checks that exactly one refusal of kind was logged, at info
// by the logger named refusals, with client, status and reason.
func wantRefusal(t *testing.T, logs *observer.ObservedLogs, kind, client string, status int, reason string) {
	t.Helper()
	entries := logs.FilterMessage(kind).All()
	if len(entries) != 1 {
		t.Fatalf("%d lines %q, want 1; the log: %v", len(entries), kind, logs.All())
	}
	e := entries[0]
	f := e.ContextMap()
	if e.Level != zap.InfoLevel || e.LoggerName != "refusals" || f["client"] != client ||
		f["status"] != int64(status) || f["reason"] != reason {
		t.Fatalf("%s: level %v, logger %q, fields %v; want info, refusals, client %s, status %d, reason %q",
			kind, e.Level, e.LoggerName, f, client, status, reason)
	}
}

// Each refusal of a request is logged once, with what the client was told.
func TestRefusalsAreLogged(t *testing.T) {
	cases := []struct {
		name    string
		cfg     api.Config
		remote  string
		path    string
		headers []string
		kind    string
		status  int
		reason  string
	}{
		{"no key", api.Config{APIKeys: []string{"k"}}, "192.0.2.1:1", "/api/stats", nil,
			"refused: API key", 401, "an API key is required: Authorization: Bearer <key>"},
		{"wrong key", api.Config{APIKeys: []string{"k"}}, "192.0.2.1:1", "/api/stats", []string{"Authorization", "Bearer x"},
			"refused: API key", 401, "the API key is not valid"},
		{"not loopback", api.Config{}, "192.0.2.1:1", "/api/stats", nil,
			"refused: API key", 403, "no API keys are configured: only loopback callers are served"},
		{"bad token", api.Config{Tokens: hsVerifier(t)}, "192.0.2.1:1", "/ws?token=garbage", nil,
			"refused: token", 401, ""}, // as auth words it: the body's message
		{"origin", api.Config{AllowedOrigins: []string{"https://app.example"}}, "192.0.2.1:1", "/ws", []string{"Origin", "https://evil.example"},
			"refused: origin", 403, "origin https://evil.example is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := observed()
			tc.cfg.Logger = log
			h := api.New(tc.cfg, nil, nil).Handler()
			w := serveFrom(h, tc.remote, "GET", tc.path, "", tc.headers...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			reason := tc.reason
			if reason == "" {
				reason = recorded(w).wantError(t, tc.status, "unauthorized")
			}
			wantRefusal(t, logs, tc.kind, "192.0.2.1", tc.status, reason)
		})
	}
}

// An address past its connection rate is refused at the upgrade (429).
func TestRateLimitedUpgradeIsLogged(t *testing.T) {
	log, logs := observed()
	cfg := api.Config{
		Logger: log,
		Tokens: hsVerifier(t), // the first request gets past the limits, to be refused for its token
		Conns:  connLimiter(t, limits.ConnConfig{Rate: 1, Burst: 1}),
	}
	h := api.New(cfg, nil, nil).Handler()
	serveFrom(h, "192.0.2.7:1", "GET", "/ws", "")
	if w := serveFrom(h, "192.0.2.7:1", "GET", "/ws", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	wantRefusal(t, logs, "refused: too many connections", "192.0.2.7", 429, "too many connections from this address")
}

// A connection refused at accept, before its request is read, is logged
// with its address and where it was refused.
func TestRefusalAtAcceptIsLogged(t *testing.T) {
	log, logs := observed()
	n := startNode(t, api.Config{Logger: log, Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 1})}, nil)
	idleConn(t, n.addr, "127.0.0.1")
	if !closedWithin(idleConn(t, n.addr, "127.0.0.1"), 3*time.Second) {
		t.Fatal("the connection over the limit was not closed")
	}
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessage("refused: too many connections").Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged: %v", logs.All())
		}
	}
	wantRefusal(t, logs, "refused: too many connections", "127.0.0.1", 429, "too many connections from this address")
	if at := logs.FilterMessage("refused: too many connections").All()[0].ContextMap()["at"]; at != "accept" {
		t.Fatalf("at %v, want accept", at)
	}
}
