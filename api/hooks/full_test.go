package hooks_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// requests is how many requests of hook ended with outcome, as /metrics
// counts them.
func requests(t *testing.T, n *nodetest.Node, hook, outcome string) int {
	t.Helper()
	v, _ := strconv.Atoi(metric(t, n, fmt.Sprintf(`herald_hook_requests_total{hook=%q,outcome=%q}`, hook, outcome)))
	return v
}

// latencies is how many requests of hook the latency histogram of
// /metrics holds.
func latencies(t *testing.T, n *nodetest.Node, hook string) int {
	t.Helper()
	v, _ := strconv.Atoi(metric(t, n, fmt.Sprintf(`herald_hook_duration_seconds_count{hook=%q}`, hook)))
	return v
}

// wantNotSent checks what /metrics says of requests of hook refused
// because the node held its bound: counted full, not error, and with no
// latency, as they never reached the backend.
func wantNotSent(t *testing.T, n *nodetest.Node, hook string, full, answered int) {
	t.Helper()
	if got := requests(t, n, hook, "full"); got != full {
		t.Fatalf("%s requests counted full: %d, want %d", hook, got, full)
	}
	if got := requests(t, n, hook, "error"); got != 0 {
		t.Fatalf("%s requests counted error: %d, want 0", hook, got)
	}
	if got := latencies(t, n, hook); got != answered {
		t.Fatalf("%s latencies: %d, want %d, the requests the backend answered", hook, got, answered)
	}
}

// A flood of upgrades while the backend hangs opens at most MaxInFlight
// hook requests; the others are refused 503 at once. Two addresses fill
// the node, as one may hold only its share (share_test.go).
func TestConnectHookConcurrencyIsBounded(t *testing.T) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // a cleanup, not a defer: it runs once the gate has ended
	release := newGate(t)
	b := newBackend(t, func(w http.ResponseWriter, _ map[string]any) {
		release.wait()
		answerJSON(200, `{}`)(w, nil)
	})
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL, MaxInFlight: 2, Timeout: wait}, nil)
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := httpFrom(from).Get(n.Base + "/ws"); err == nil { // refused 400 after the hook: not an upgrade
				resp.Body.Close()
			}
		}()
	}
	eventually(t, "two hook requests in flight", func() bool { return len(b.requests()) == 2 })
	for range 5 {
		if r := refusedFrom(t, n, "127.0.0.3", "/ws"); r.status != 503 || r.code != "unavailable" {
			t.Fatalf("past the bound: %+v, want 503 unavailable", r)
		}
	}
	if got := len(b.requests()); got != 2 {
		t.Fatalf("%d hook requests, want 2", got)
	}
	wantNotSent(t, n, "connect", 5, 0)
	release.open()
	wg.Wait()
	wantNotSent(t, n, "connect", 5, 2)
	dial(t, n, "") // the places are back
}

// Subscribes while the backend hangs open at most MaxInFlight hook
// requests on a node; the others are answered unavailable at once.
func TestSubscribeHookConcurrencyIsBounded(t *testing.T) {
	release := newGate(t)
	b := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		if body["topic"] == "slow" {
			release.wait()
		}
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{SubscribeURL: b.srv.URL, MaxInFlight: 2, Timeout: wait}, nil)
	var waiting []*wsClient
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} { // one address holds only its share
		c, _ := dialFrom(t, n, from, "")
		c.send(`{"type":"subscribe","id":"slow","topic":"slow"}`)
		waiting = append(waiting, c)
	}
	eventually(t, "two hook requests in flight", func() bool { return len(b.requests()) == 2 })
	other, _ := dialFrom(t, n, "127.0.0.3", "")
	for i := range 5 {
		other.send(`{"type":"subscribe","id":"%d","topic":"room.%d"}`, i, i)
		if r := other.reply(strconv.Itoa(i)); r["code"] != "unavailable" {
			t.Fatalf("past the bound: %v, want unavailable", r)
		}
	}
	if got := len(b.requests()); got != 2 {
		t.Fatalf("%d hook requests, want 2", got)
	}
	wantNotSent(t, n, "subscribe", 5, 0)
	release.open()
	for _, c := range waiting {
		if r := c.reply("slow"); r["type"] != "subscribed" {
			t.Fatalf("once the backend answered: %v", r)
		}
	}
	wantNotSent(t, n, "subscribe", 5, 2)
	other.send(`{"type":"subscribe","id":"back","topic":"room.1"}`)
	if r := other.reply("back"); r["type"] != "subscribed" {
		t.Fatalf("once the places are back: %v", r)
	}
}
