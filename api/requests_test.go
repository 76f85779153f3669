package api_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

// closes says how many of n requests to path over one keep-alive client
// were answered with their connection closed; every one is answered
// status.
func closes(t *testing.T, base, path string, n, status int) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	closed := 0
	for range n {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s answered %d, want %d", path, resp.StatusCode, status)
		}
		if resp.Close {
			closed++
		}
	}
	return closed
}

// Requests without a valid API key are paced per address: past the burst
// each is still answered as usual (/healthz 200, a refusal its refusal),
// but its connection is closed after it, so that a keep-alive connection
// cannot ask as fast as it sends. A backend's requests (here a loopback
// caller's with no key configured) are never closed for it.
func TestRequestsWithoutAKeyArePacedPerAddress(t *testing.T) {
	const burst = 5
	n := startNode(t, api.Config{Requests: connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst})}, nil)
	const tries = 20
	start := time.Now()
	got := closes(t, n.base, "/healthz", tries, http.StatusOK)
	got += closes(t, n.base, "/nothing-here", tries, http.StatusNotFound)
	// The pace's rate of one a second may let a few more keep theirs.
	if least := 2*tries - burst - 1 - int(time.Since(start)/time.Second); got < least {
		t.Errorf("%d of %d answers without a key closed their connection, want %d at least", got, 2*tries, least)
	}
	if got := closes(t, n.base, "/api/stats", tries, http.StatusOK); got != 0 {
		t.Errorf("%d of %d of a backend's requests closed their connection", got, tries)
	}
}

// A /metrics request past its address's pace is answered 429 and its
// connection closed after it, so that a keep-alive connection cannot
// have refusals as fast as it sends.
func TestMetricsPastThePaceCloseTheConnection(t *testing.T) {
	const burst = 3
	n := startNode(t, api.Config{
		Probes:  connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst}),
		Metrics: http.NotFoundHandler(),
	}, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	refused := 0
	for range 4 * burst {
		resp, err := client.Get(n.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			if !resp.Close {
				t.Fatal("a 429 from /metrics kept its connection open")
			}
		}
	}
	if refused == 0 {
		t.Fatal("no /metrics request was refused past the pace")
	}
}
