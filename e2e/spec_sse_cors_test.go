package e2e

import (
	"net/http"
	"testing"
)

// Section 10: /sse answers with Access-Control-Allow-Origin echoing the
// request's Origin when it is allowed; an origin not on the list is not
// echoed.
func TestSpecSSEOriginNotAllowedIsNotEchoed(t *testing.T) {
	n := startProcess(t, "cors", "HERALD_ALLOWED_ORIGINS=https://ok.example")
	_, resp, body := sseOpen(t, n.base+"/sse?topic=a", http.Header{"Origin": {"https://evil.example"}})
	if resp.StatusCode != 403 || errorCode(body) != "forbidden" {
		t.Fatalf("an origin not allowed: %d %s, want 403 forbidden", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("an origin not allowed is echoed: Access-Control-Allow-Origin %q", got)
	}
}
