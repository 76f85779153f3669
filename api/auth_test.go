package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-broker/herald/api"
)

func TestAPIKeys(t *testing.T) {
	n := startNode(t, api.Config{APIKeys: []string{"key-one", " key-two "}}, nil)
	body := `{"topic":"a","data":1}`
	n.post(t, "/api/publish", body).wantError(t, http.StatusUnauthorized, "unauthorized")
	n.post(t, "/api/publish", body, "Authorization", "Bearer key-three").wantError(t, http.StatusUnauthorized, "unauthorized")
	n.post(t, "/api/publish", body, "Authorization", "Bearer key-on").wantError(t, http.StatusUnauthorized, "unauthorized")
	n.post(t, "/api/publish", body, "Authorization", "Basic key-one").wantError(t, http.StatusUnauthorized, "unauthorized")
	n.get(t, "/api/stats", "Authorization", "Bearer ").wantError(t, http.StatusUnauthorized, "unauthorized")
	n.post(t, "/api/publish", body, "Authorization", "Bearer key-one").wantOK(t, &published{})
	n.post(t, "/api/publish", body, "Authorization", "bearer key-two").wantOK(t, &published{})
	for _, path := range []string{"/api/broadcast", "/api/batch", "/api/history?topic=a", "/api/topics", "/api/stats"} {
		method := http.MethodGet
		if !strings.Contains(path, "?") && (strings.HasSuffix(path, "cast") || strings.HasSuffix(path, "batch")) {
			method = http.MethodPost
		}
		n.do(t, method, path, "{}").wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := n.get(t, path); r.status != http.StatusOK {
			t.Errorf("%s without a key: %d", path, r.status)
		}
	}
}

// serveFrom calls the handler directly as if the request came from remote.
func serveFrom(h http.Handler, remote, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func recorded(w *httptest.ResponseRecorder) reply {
	return reply{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func TestNoKeysServesLoopbackOnly(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	h := n.srv.Handler()
	msg := recorded(serveFrom(h, "192.0.2.1:1234", "POST", "/api/publish", `{"topic":"a","data":1}`)).wantError(t, http.StatusForbidden, "forbidden")
	if !strings.Contains(msg, "loopback") {
		t.Fatalf("message %q does not explain the rule", msg)
	}
	recorded(serveFrom(h, "[2001:db8::1]:1234", "GET", "/api/stats", "")).wantError(t, http.StatusForbidden, "forbidden")
	recorded(serveFrom(h, "[::ffff:192.0.2.1]:1234", "GET", "/api/stats", "")).wantError(t, http.StatusForbidden, "forbidden")
	for _, remote := range []string{"127.0.0.1:1234", "127.8.9.10:1", "[::1]:1234", "[::ffff:127.0.0.1]:1234"} {
		var st map[string]any
		recorded(serveFrom(h, remote, "GET", "/api/stats", "")).wantOK(t, &st)
	}
	if w := serveFrom(h, "192.0.2.1:1234", "GET", "/healthz", ""); w.Code != http.StatusOK {
		t.Fatalf("healthz from afar: %d", w.Code)
	}
}

func TestKeysServeAnyAddress(t *testing.T) {
	n := startNode(t, api.Config{APIKeys: []string{"k"}}, nil)
	h := n.srv.Handler()
	var got published
	recorded(serveFrom(h, "192.0.2.1:1234", "POST", "/api/publish", `{"topic":"a","data":1}`, "Authorization", "Bearer k")).wantOK(t, &got)
	recorded(serveFrom(h, "127.0.0.1:1234", "POST", "/api/publish", `{"topic":"a","data":1}`)).wantError(t, http.StatusUnauthorized, "unauthorized")
}

func TestWarnsWithoutKeys(t *testing.T) {
	// startNode logs to t.Log; the warning's presence is checked through a
	// logger that records.
	core, logs := observed()
	api.New(api.Config{Logger: core}, nil, nil)
	if logs.FilterMessageSnippet("no API keys").Len() != 1 {
		t.Fatalf("no warning logged: %v", logs.All())
	}
	core, logs = observed()
	api.New(api.Config{Logger: core, APIKeys: []string{"k"}}, nil, nil)
	if logs.FilterMessageSnippet("no API keys").Len() != 0 {
		t.Fatal("warned although keys are configured")
	}
}

func TestForeignOrigin(t *testing.T) {
	n := startNode(t, api.Config{AllowedOrigins: []string{"https://app.example"}}, nil)
	h := n.srv.Handler()
	recorded(serveFrom(h, "127.0.0.1:1", "GET", "/ws", "", "Origin", "https://evil.example")).wantError(t, http.StatusForbidden, "forbidden")
	// An allowed origin, or none, gets past the check to the handshake,
	// which this plain request then fails.
	for _, origin := range []string{"https://app.example", ""} {
		w := serveFrom(h, "127.0.0.1:1", "GET", "/ws", "", "Origin", origin)
		var body struct{ Error struct{ Code string } }
		json.Unmarshal(w.Body.Bytes(), &body)
		if body.Error.Code == "forbidden" {
			t.Fatalf("origin %q refused", origin)
		}
	}
}
