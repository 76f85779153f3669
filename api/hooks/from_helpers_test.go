package hooks_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/herald-broker/herald/internal/nodetest"
)

// netDialer connects from the loopback address from; "": the system's
// choice.
func netDialer(from string) *net.Dialer {
	if from == "" {
		return &net.Dialer{}
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
}

// httpFrom is an HTTP client whose requests come from from, each on a
// connection of its own that ends with it.
func httpFrom(from string) *http.Client {
	tr := &http.Transport{DialContext: netDialer(from).DialContext, DisableKeepAlives: true}
	return &http.Client{Timeout: wait, Transport: tr}
}

// refusedFrom sends a GET of path from the loopback address from, and
// returns what it is refused with.
func refusedFrom(t *testing.T, n *nodetest.Node, from, path string, headers ...string) refusal {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpFrom(from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Message == "" {
		t.Fatalf("status %d body %q: not an error body", resp.StatusCode, raw)
	}
	return refusal{resp.StatusCode, body.Error.Code, resp.Header.Get("Retry-After")}
}
