package api_test

import (
	"net/http"
	"testing"

	"github.com/herald-broker/herald/api"
)

// TestNoKeysRefusesWhatAProxyForwards: with no API key configured only
// loopback callers are served, and a request a proxy on the same host
// forwarded comes from loopback too. Its X-Forwarded-For, X-Real-IP or
// Forwarded naming an address that is not loopback says whom it came
// for: that caller is refused, as it would be without the proxy. Every
// caller of the internet behind an nginx on the node's host published,
// disconnected users and bought tail tokens.
func TestNoKeysRefusesWhatAProxyForwards(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	for _, h := range [][]string{
		{"X-Forwarded-For", "203.0.113.9"},
		{"X-Forwarded-For", "127.0.0.1, 203.0.113.9"},
		{"X-Forwarded-For", "203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-For", "not an address"},
		{"X-Real-IP", "2001:db8::1"},
		{"Forwarded", "for=203.0.113.9;proto=https"},
		{"Forwarded", `for="[2001:db8::1]:4711"`},
		{"Forwarded", "for=127.0.0.1, for=198.51.100.17"},
		{"Forwarded", "for=_hidden"},
	} {
		n.get(t, "/api/stats", h...).wantError(t, http.StatusForbidden, "forbidden")
		n.post(t, "/api/publish", `{"topic":"a","data":1}`, h...).wantError(t, http.StatusForbidden, "forbidden")
	}
	// A local caller a local proxy forwarded is still local.
	for _, h := range [][]string{
		nil,
		{"X-Forwarded-For", "127.0.0.1"},
		{"X-Forwarded-For", "::1, 127.0.0.2"},
		{"X-Real-IP", "127.0.0.1"},
		{"Forwarded", `for="[::1]:80";proto=http, for=127.0.0.1`},
	} {
		var st map[string]any
		n.get(t, "/api/stats", h...).wantOK(t, &st)
	}
}
