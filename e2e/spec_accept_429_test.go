package e2e

import (
	"net/http"
	"testing"
)

// Section 10 (and 6): past the per-address connection limit, a client
// that sends its request at once, as every HTTP client does, is answered
// 429; it never sees the connection reset instead.
func TestSpecSSE429AtAccept(t *testing.T) {
	n := startProcess(t, "accept429", "HERALD_MAX_CONNECTIONS_PER_IP=1")
	httpClient.CloseIdleConnections()
	s, resp, body := sseOpen(t, n.base+"/sse?topic=a", nil)
	for i := 0; s == nil; i++ { // the readiness check's connection may still be counted
		if i == 50 {
			t.Fatalf("first stream: %d %s", resp.StatusCode, body)
		}
		s, resp, body = sseOpen(t, n.base+"/sse?topic=a", nil)
	}
	resets := 0
	for range 200 {
		req, _ := http.NewRequest(http.MethodGet, n.base+"/sse?topic=a", nil)
		resp, err := (&http.Client{Timeout: wait}).Do(req)
		if err != nil {
			resets++
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 429 {
			t.Fatalf("past the limit: %d", resp.StatusCode)
		}
	}
	if resets > 0 {
		t.Errorf("of 200 requests past the limit, %d got no answer (connection reset) instead of 429", resets)
	}
}
