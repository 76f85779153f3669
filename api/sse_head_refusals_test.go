package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
)

// streamAnswer is what a request of /sse was answered, as far as a HEAD
// can tell it: the body a GET reads is only its length to a HEAD (its
// Content-Length), a 200's none.
type streamAnswer struct {
	status      int
	retryAfter  string
	challenge   string
	contentType string
	bodyBytes   int
}

// askStream sends method to path on n and returns its answer; a stream
// that opens is closed unread.
func askStream(t *testing.T, n *nodetest.Node, method, path string, headers ...string) streamAnswer {
	t.Helper()
	req, err := http.NewRequest(method, n.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := streamAnswer{
		status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		challenge: resp.Header.Get("WWW-Authenticate"), contentType: resp.Header.Get("Content-Type"), bodyBytes: -1,
	}
	switch {
	case a.status == http.StatusOK:
	case method == http.MethodHead:
		if a.bodyBytes, err = strconv.Atoi(resp.Header.Get("Content-Length")); err != nil {
			t.Fatalf("HEAD %s: %d with Content-Length %q", path, a.status, resp.Header.Get("Content-Length"))
		}
	default:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		a.bodyBytes = len(body)
	}
	return a
}

// headNode is a node with every refusal of a stream within reach: a
// token (hsVerifier), 4 subscriptions a connection, presence on room.*,
// the subscribe hook on hooked.> (backend), and per address 2
// connections, a budget of 10 commands that does not refill in a test's
// time, and 6 subscriptions.
func headNode(t *testing.T, backend string, eng broker.Engine) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{Engine: eng, Node: heraldnode.Config{
		NodeID: "test-node", Tokens: hsVerifier(t),
		Broker: broker.Config{MaxSubscriptions: 4, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		Hooks:  heraldnode.Hooks{SubscribeURL: backend, SubscribeTopics: []string{"hooked.>"}},
		API: api.Config{Conns: connLimiter(t, limits.ConnConfig{
			MaxOpen: 2, Rate: 100, Burst: 100, CommandRate: 1, CommandBurst: 10, Subscriptions: 6,
		})},
	}})
}

// TestSSEHeadAnswersAsTheGet: for every refusal of a stream, and for one
// that opens, a HEAD of /sse is answered what a GET is on a node in the
// same state: status, Retry-After, WWW-Authenticate, Content-Type and
// the error body's length.
func TestSSEHeadAnswersAsTheGet(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.Contains(string(body), `"hooked.no"`):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"message":"not you"}}`))
		case strings.Contains(string(body), `"hooked.down"`):
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(backend.Close)
	allow := map[string][]string{"subscribe": {"a.>", "room.>", "hooked.>"}}
	tok := claimsToken(t, "u", jwt.MapClaims{"allow": allow})
	withSubs := func(subs ...string) string {
		return claimsToken(t, "u", jwt.MapClaims{"allow": allow, "subs": subs})
	}
	topics := func(names ...string) string {
		return "topic=" + strings.Join(names, "&topic=")
	}
	keep := func(path string) func(t *testing.T, n *nodetest.Node) {
		return func(t *testing.T, n *nodetest.Node) { mustOpenSSE(t, n.Base, path).subscribed(t) }
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T, n *nodetest.Node) // streams held before the request
		path    string
		headers []string
		want    int
	}{
		{name: "opens", path: "/sse?topic=a.1&topic=a.*&topic=room.x&token=" + tok, want: 200},
		{name: "opens resuming", path: "/sse?topic=a.1&token=" + tok, headers: []string{"Last-Event-ID", "0-abc-1"}, want: 200},
		{name: "opens hooked", path: "/sse?topic=hooked.yes&token=" + tok, want: 200},
		{name: "no token", path: "/sse?topic=a.1", want: 401},
		{name: "bad token", path: "/sse?topic=a.1&token=bad", want: 401},
		{name: "no topic", path: "/sse?token=" + tok, want: 400},
		{name: "33 topics", path: "/sse?topic=a.1" + strings.Repeat("&topic=a.1", 32) + "&token=" + tok, want: 400},
		{name: "invalid topic", path: "/sse?topic=a.1&topic=a..b&token=" + tok, want: 400},
		{name: "not allowed", path: "/sse?topic=a.1&topic=secret&token=" + tok, want: 403},
		{name: "more than a connection holds", path: "/sse?" + topics("a.1", "a.2", "a.3", "a.4", "a.5") + "&token=" + tok, want: 400},
		{name: "more than the burst", path: "/sse?" + topics("room.1", "room.2") + "&token=" + tok, want: 400},
		{name: "subs past the burst", path: "/sse?topic=a.1&token=" + withSubs("room.1", "room.2"), want: 401},
		{name: "subs past a connection", path: "/sse?topic=a.1&token=" + withSubs("a.s1", "a.s2", "a.s3", "a.s4"), want: 400},
		{name: "budget spent", setup: keep("/sse?" + topics("a.1", "a.2", "a.3", "a.4") + "&token=" + tok),
			path: "/sse?topic=room.1&token=" + tok, want: 429},
		{name: "address's subscriptions", setup: keep("/sse?" + topics("a.1", "a.2", "a.3", "a.4") + "&token=" + tok),
			path: "/sse?" + topics("a.5", "a.6", "a.7") + "&token=" + tok, want: 400},
		{name: "address's connections", setup: func(t *testing.T, n *nodetest.Node) {
			keep("/sse?topic=a.1&token="+tok)(t, n)
			keep("/sse?topic=a.2&token="+tok)(t, n)
		}, path: "/sse?topic=a.3&token=" + tok, want: 429},
		{name: "hook refuses", path: "/sse?topic=a.1&topic=hooked.no&token=" + tok, want: 403},
		{name: "hook down", path: "/sse?topic=hooked.down&token=" + tok, want: 503},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got [2]streamAnswer
			for i, method := range []string{http.MethodHead, http.MethodGet} {
				n := headNode(t, backend.URL, nil)
				if c.setup != nil {
					c.setup(t, n)
				}
				got[i] = askStream(t, n, method, c.path, c.headers...)
			}
			if got[0] != got[1] || got[1].status != c.want {
				t.Fatalf("HEAD %+v, GET %+v; want %d", got[0], got[1], c.want)
			}
		})
	}
}

// TestSSEHeadAnswersAsTheGetWithRedisDown: with Redis out of reach, a
// HEAD is refused 503 as the GET is: naming an exact topic, resuming or
// not, and naming patterns alone, which the node does not hold.
func TestSSEHeadAnswersAsTheGetWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	n := nodetest.Start(t, nodetest.Options{Engine: redisEngine(t, srv.URL()), Node: heraldnode.Config{
		NodeID: "test-node", Broker: broker.Config{MaxSubscriptions: 100},
	}})
	if a := askStream(t, n, http.MethodHead, "/sse?topic=b.*&topic=c.>"); a.status != http.StatusOK {
		t.Fatalf("HEAD of patterns with Redis up: %+v", a)
	}
	srv.Stop()
	for _, c := range []struct {
		path    string
		headers []string
	}{
		{path: "/sse?topic=a"},
		{path: "/sse?topic=a&topic=b.*", headers: []string{"Last-Event-ID", "0-abc-1"}},
	} {
		head := askStream(t, n, http.MethodHead, c.path, c.headers...)
		get := askStream(t, n, http.MethodGet, c.path, c.headers...)
		if head != get || get.status != http.StatusServiceUnavailable {
			t.Errorf("%s %v: HEAD %+v, GET %+v; want 503", c.path, c.headers, head, get)
		}
	}
	// Patterns alone have no position to read: the GET is refused when
	// the node's pub/sub connection cannot subscribe them, once the node
	// has seen Redis gone, and the HEAD must be too. A HEAD is refused
	// as the GET at the latest once the connection is replaced.
	for start := time.Now(); ; {
		head := askStream(t, n, http.MethodHead, "/sse?topic=b.*&topic=c.>")
		get := askStream(t, n, http.MethodGet, "/sse?topic=b.*&topic=c.>")
		if head == get && get.status == http.StatusServiceUnavailable {
			return
		}
		if get.status != http.StatusServiceUnavailable || time.Since(start) > 10*time.Second {
			t.Fatalf("patterns alone: HEAD %+v, GET %+v; want 503", head, get)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSSEHeadHookCallsArePaced: each topic a HEAD has the subscribe hook
// asked about counts a command of its address's budget, so that HEADs
// ask the backend no more than that budget holds: with a burst of 10 and
// 4 hooked topics a HEAD, the third HEAD is refused 429 unasked.
func TestSSEHeadHookCallsArePaced(t *testing.T) {
	var asked atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(backend.Close)
	n := headNode(t, backend.URL, nil)
	tok := claimsToken(t, "u", jwt.MapClaims{"allow": map[string][]string{"subscribe": {"hooked.>"}}})
	path := "/sse?topic=hooked.a&topic=hooked.b&topic=hooked.c&topic=hooked.d&token=" + tok
	let := 0
	for range 10 {
		a := askStream(t, n, http.MethodHead, path)
		if a.status == http.StatusTooManyRequests {
			break
		}
		if a.status != http.StatusOK {
			t.Fatalf("HEAD: %+v", a)
		}
		let++
	}
	if let > 3 || asked.Load() != int64(4*let) {
		t.Fatalf("%d HEADs let through on a burst of 10, the hook asked %d times", let, asked.Load())
	}
}
