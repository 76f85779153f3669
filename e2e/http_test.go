package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// The HTTP API as the e2e tests call it: one client whose every request
// has a deadline, a GET of JSON, and a publish.

var httpClient = &http.Client{Timeout: wait}

// getJSON decodes the body of GET url into v, failing unless it is a 200.
func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
}

// publish posts one message and returns the seq it got.
func publish(t testing.TB, n *node, topic string, data string) uint64 {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"data":%s}`, topic, data)
	resp, err := httpClient.Post(n.base+"/api/publish", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Errorf("publish: %v", err)
		return 0
	}
	defer resp.Body.Close()
	var r struct{ Seq uint64 }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Errorf("publish: status %d, %v", resp.StatusCode, err)
	}
	return r.Seq
}
