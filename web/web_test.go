package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func serve(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesFilesWithTheirTypes(t *testing.T) {
	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>Herald dashboard</title>"},
		{"/herald.js", "text/javascript; charset=utf-8", "export { Herald, "},
		{"/herald.d.ts", "application/typescript; charset=utf-8", "export class Herald"},
		{"/dashboard.js", "text/javascript; charset=utf-8", "from './dashboard-api.js'"},
		{"/dashboard-tail.js", "text/javascript; charset=utf-8", "from './herald.js'"},
		{"/dashboard.css", "text/css; charset=utf-8", ".card"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res := serve(t, http.MethodGet, c.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body does not contain %q", c.contains)
			}
		})
	}
}

func TestHandlerDashboardHasPolicy(t *testing.T) {
	res := serve(t, http.MethodGet, "/", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if got := serve(t, http.MethodGet, "/herald.js", nil).Header.Get("X-TypeScript-Types"); got != "./herald.d.ts" {
		t.Errorf("X-TypeScript-Types %q", got)
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	etag := serve(t, http.MethodGet, "/herald.js", nil).Header.Get("ETag")
	res := serve(t, http.MethodGet, "/herald.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("status %d, want 304", res.StatusCode)
	}
}

func TestHandlerHeadHasNoBody(t *testing.T) {
	res := serve(t, http.MethodHead, "/herald.js", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("status %d, body %d bytes; want 200 and none", res.StatusCode, len(body))
	}
	if got := res.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
}

func TestHandlerUnknownPathIs404(t *testing.T) {
	for _, path := range []string{"/nope", "/static/herald.js", "/herald.js/", "/../web.go", "/api/stats"} {
		if res := serve(t, http.MethodGet, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
}

func TestHandlerOtherMethodsAre405(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		res := serve(t, method, "/herald.js", nil)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", method, res.StatusCode)
		}
		if got := res.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow %q", method, got)
		}
	}
}

func TestLoadRefusesUnknownKindsAndMissingIndex(t *testing.T) {
	unknown := fstest.MapFS{
		"static/index.html": {Data: []byte("x")},
		"static/blob.bin":   {Data: []byte("x")},
	}
	if _, err := load(unknown); err == nil || !strings.Contains(err.Error(), "blob.bin") {
		t.Errorf("unknown kind: err %v, want one naming blob.bin", err)
	}
	noIndex := fstest.MapFS{"static/herald.js": {Data: []byte("x")}}
	if _, err := load(noIndex); err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Errorf("no index: err %v, want one naming index.html", err)
	}
}
