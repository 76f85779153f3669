package api_test

import (
	"net/http"
	"testing"

	"github.com/herald-broker/herald/api"
)

// Under /api/ the key is checked before anything else, so a caller
// without it learns no path and no method: an unknown path or a wrong
// method is 401 to it, and 404 or 405 only with the key. The routes that
// need no key, and the CORS preflight, answer as before.
func TestAPIKeyIsCheckedBeforeThePath(t *testing.T) {
	n := startNode(t, api.Config{APIKeys: []string{"k1"}}, nil)
	key := []string{"Authorization", "Bearer k1"}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/nothing"}, {"GET", "/api/"}, {"POST", "/api/publish/extra"},
		{"DELETE", "/api/publish"}, {"GET", "/api/batch"}, {"POST", "/api/stats"},
	} {
		r := n.do(t, tc.method, tc.path, "")
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
		if r.header.Get("Allow") != "" {
			t.Errorf("%s %s without a key: Allow %q", tc.method, tc.path, r.header.Get("Allow"))
		}
		n.do(t, tc.method, tc.path, "", "Authorization", "Bearer k2").wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	n.get(t, "/api/nothing", key...).wantError(t, http.StatusNotFound, "not_found")
	n.post(t, "/api/publish/extra", "{}", key...).wantError(t, http.StatusNotFound, "not_found")
	r := n.do(t, http.MethodDelete, "/api/publish", "", key...)
	r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}

	pre := n.do(t, http.MethodOptions, "/api/stats", "", "Origin", "https://dash.example", "Access-Control-Request-Method", "GET")
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("preflight without a key: %d %v", pre.status, pre.header)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := n.get(t, path); r.status != http.StatusOK {
			t.Errorf("%s without a key: %d %s", path, r.status, r.body)
		}
	}
	n.get(t, "/nothing").wantError(t, http.StatusNotFound, "not_found") // outside /api/: no key asked
}
