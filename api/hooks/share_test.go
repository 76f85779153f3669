package hooks_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// The nodes of these tests run 16 requests of each hook at once, of which
// one address may hold 2 (an eighth).
const (
	shareMaxInFlight = 16
	share            = shareMaxInFlight / 8
)

// client is one client of a node as the node tells it apart: by the
// loopback address it connects from, or behind a trusted proxy by the
// X-Forwarded-For it comes with.
type client struct {
	from    string
	headers []string // name, value pairs sent with every request
}

// twoClients are the ways a test has two clients of one node: an attacker
// and another.
var twoClients = []struct {
	name            string
	trusted         string // HERALD_TRUSTED_PROXIES
	attacker, other client
}{
	{"two addresses", "", client{from: "127.0.0.1"}, client{from: "127.0.0.2"}},
	{"behind a trusted proxy", "127.0.0.1",
		client{from: "127.0.0.1", headers: []string{"X-Forwarded-For", "198.51.100.1"}},
		client{from: "127.0.0.1", headers: []string{"X-Forwarded-For", "198.51.100.2"}}},
}

func (c client) dial(t *testing.T, n *nodetest.Node, query string) *wsClient {
	t.Helper()
	ws, _ := dialFrom(t, n, c.from, query, c.headers...)
	return ws
}

func (c client) refused(t *testing.T, n *nodetest.Node, path string) refusal {
	t.Helper()
	return refusedFrom(t, n, c.from, path, c.headers...)
}

// get sends a GET of path and returns the answer.
func (c client) get(n *nodetest.Node, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, n.Base+path, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(c.headers); i += 2 {
		req.Header.Set(c.headers[i], c.headers[i+1])
	}
	return httpFrom(c.from).Do(req)
}

// startShareNode runs a node with hooks h, shareMaxInFlight requests of
// each at once, and trusted as its trusted proxies.
func startShareNode(t *testing.T, trusted string, h node.Hooks) *nodetest.Node {
	t.Helper()
	ip, err := limits.NewClientIP(trusted)
	if err != nil {
		t.Fatal(err)
	}
	h.MaxInFlight, h.Timeout = shareMaxInFlight, wait
	return startNodeWith(t, node.Config{Hooks: h, API: api.Config{ClientIP: ip}})
}

// limited is how many requests of hook were refused for their address's
// share, as /metrics counts them.
func limited(t *testing.T, n *nodetest.Node, hook string) int {
	t.Helper()
	return requests(t, n, hook, "limited")
}

// asked is how many requests the backend was sent whose body holds s.
func asked(b *backend, s string) int {
	n := 0
	for _, body := range b.requests() {
		if strings.Contains(body, s) {
			n++
		}
	}
	return n
}

// One address holding its share of the connect hook's requests, against a
// backend that hangs, makes no other address's upgrade fail: its own
// upgrades past the share are refused 429 at once, without asking.
func TestConnectHookShareOfOneAddress(t *testing.T) {
	for _, two := range twoClients {
		t.Run(two.name, func(t *testing.T) {
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait) // a cleanup, not a defer: it runs once the gate has ended
			release := newGate(t)
			b := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
				if q, _ := body["query"].(map[string]any); q["who"] == "slow" {
					release.wait()
				}
				answerJSON(200, `{}`)(w, body)
			})
			n := startShareNode(t, two.trusted, node.Hooks{ConnectURL: b.srv.URL})
			statuses := make(chan int, shareMaxInFlight)
			for range shareMaxInFlight { // enough to fill the node without the share
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := two.attacker.get(n, "/ws?who=slow") // not an upgrade: 400 once asked
					if err != nil {
						statuses <- 0
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				}()
			}
			eventually(t, "every upgrade asked about or refused", func() bool {
				return asked(b, `"who":"slow"`)+limited(t, n, "connect") == shareMaxInFlight
			})
			two.other.dial(t, n, "?who=fast")
			if r := two.attacker.refused(t, n, "/ws?who=fast"); r.status != 429 || r.code != "rate_limited" || r.retryAfter != "1" {
				t.Fatalf("the attacker past its share: %+v, want 429 rate_limited, Retry-After: 1", r)
			}
			if got := asked(b, `"who":"slow"`); got != share {
				t.Fatalf("the backend was asked about %d of the attacker's upgrades, want %d", got, share)
			}
			release.open()
			wg.Wait()
			close(statuses)
			refused := 0
			for s := range statuses {
				if s == http.StatusTooManyRequests {
					refused++
				}
			}
			if refused != shareMaxInFlight-share {
				t.Fatalf("%d of the attacker's %d upgrades refused 429, want %d", refused, shareMaxInFlight, shareMaxInFlight-share)
			}
			two.attacker.dial(t, n, "?who=fast") // its share is back
		})
	}
}

// One address holding its share of the subscribe hook's requests, against
// a backend that hangs, makes no other address's subscribe fail, over
// WebSocket or SSE: its own subscribes past the share are refused
// rate_limited at once, without asking.
func TestSubscribeHookShareOfOneAddress(t *testing.T) {
	for _, two := range twoClients {
		t.Run(two.name, func(t *testing.T) {
			release := newGate(t)
			b := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
				if topic, _ := body["topic"].(string); strings.HasPrefix(topic, "slow.") {
					release.wait()
				}
				answerJSON(200, `{}`)(w, body)
			})
			n := startShareNode(t, two.trusted, node.Hooks{SubscribeURL: b.srv.URL})
			// Four connections, as many subscribes as the node asks about
			// at once, each connection within its own bound of 16.
			for c := range 4 {
				ws := two.attacker.dial(t, n, "")
				for i := range shareMaxInFlight / 4 {
					ws.send(`{"type":"subscribe","id":"%d","topic":"slow.%d.%d"}`, i, c, i)
				}
			}
			eventually(t, "every subscribe asked about or refused", func() bool {
				return asked(b, `"topic":"slow.`)+limited(t, n, "subscribe") == shareMaxInFlight
			})
			other := two.other.dial(t, n, "")
			other.send(`{"type":"subscribe","id":"1","topic":"room.1"}`)
			if r := other.reply("1"); r["type"] != "subscribed" {
				t.Fatalf("another address's subscribe while the attacker holds its share: %v", r)
			}
			resp, err := two.other.get(n, "/sse?topic=room.2")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("another address's stream while the attacker holds its share: %d", resp.StatusCode)
			}
			attacker := two.attacker.dial(t, n, "")
			attacker.send(`{"type":"subscribe","id":"x","topic":"room.3"}`)
			if r := attacker.reply("x"); r["code"] != "rate_limited" {
				t.Fatalf("the attacker's subscribe past its share: %v, want rate_limited", r)
			}
			if r := two.attacker.refused(t, n, "/sse?topic=room.4"); r.status != 429 || r.code != "rate_limited" || r.retryAfter != "1" {
				t.Fatalf("the attacker's stream past its share: %+v, want 429 rate_limited, Retry-After: 1", r)
			}
			if got := asked(b, `"topic":"slow.`); got != share {
				t.Fatalf("the backend was asked about %d of the attacker's subscribes, want %d", got, share)
			}
			release.open()
			id := 0
			eventually(t, "the attacker's share back once the backend answered", func() bool {
				id++
				attacker.send(`{"type":"subscribe","id":"%d","topic":"room.5"}`, id)
				return attacker.reply(strconv.Itoa(id))["type"] == "subscribed"
			})
		})
	}
}
