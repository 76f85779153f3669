package hooks_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/internal/node"
)

const jwtSecret = "jwt-secret"

func verifier(t *testing.T) *auth.Verifier {
	v, err := auth.New(auth.Config{Secret: []byte(jwtSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func token(t *testing.T, sub string) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string]any{"subscribe": []string{">"}},
	}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The connect hook is posted the session id welcome carries, the
// client's address, its three headers and the first value of each query
// parameter; its claims then act as a token's.
func TestConnectHookRequestAndClaims(t *testing.T) {
	b := newBackend(t, answerJSON(200, `{"user":"42","allow":{"subscribe":["chat.*"],"publish":["chat.a"]},"info":{"name":"Ann"}}`))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	c, welcome := dial(t, n, "?room=7&room=8&x=", "Cookie", "sid=abc", "Origin", "http://app.test", "User-Agent", "tester/1")
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d connect requests, want 1", len(reqs))
	}
	want := fmt.Sprintf(`{"session":%q,"ip":"127.0.0.1","headers":{"Cookie":"sid=abc","Origin":"http://app.test","User-Agent":"tester/1"},"query":{"room":"7","x":""}}`, welcome["session"])
	if reqs[0] != want {
		t.Fatalf("connect request\n%s\nwant\n%s", reqs[0], want)
	}
	c.send(`{"type":"subscribe","id":"1","topic":"chat.a"}`)
	if r := c.reply("1"); r["type"] != "subscribed" {
		t.Fatalf("subscribe allowed by the hook: %v", r)
	}
	c.send(`{"type":"subscribe","id":"2","topic":"news"}`)
	if r := c.reply("2"); r["code"] != "forbidden" {
		t.Fatalf("subscribe not allowed by the hook: %v", r)
	}
	c.send(`{"type":"publish","id":"3","topic":"chat.a","data":1}`)
	if r := c.reply("3"); r["type"] != "published" {
		t.Fatalf("publish allowed by the hook: %v", r)
	}
	c.send(`{"type":"publish","id":"4","topic":"chat.b","data":1}`)
	if r := c.reply("4"); r["code"] != "forbidden" {
		t.Fatalf("publish not allowed by the hook: %v", r)
	}
	if got := metric(t, n, `herald_hook_requests_total{hook="connect",outcome="ok"}`); got != "1" {
		t.Fatalf("connect ok count %q, want 1", got)
	}
}

// A request with a token is judged by the token alone; one without asks
// the hook.
func TestConnectHookAndTokens(t *testing.T) {
	b := newBackend(t, answerJSON(200, `{"user":"7"}`))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, verifier(t))
	dial(t, n, "?token="+token(t, "1"))
	if got := len(b.requests()); got != 0 {
		t.Fatalf("a valid token asked the hook %d times", got)
	}
	if r := refused(t, n, "?token=garbage"); r.status != 401 || r.code != "unauthorized" {
		t.Fatalf("bad token: %+v, want 401 unauthorized", r)
	}
	if got := len(b.requests()); got != 0 {
		t.Fatalf("a bad token asked the hook %d times", got)
	}
	dial(t, n, "")
	if got := len(b.requests()); got != 1 {
		t.Fatalf("no token: the hook was asked %d times, want 1", got)
	}
}

// With no JWT key every request asks the hook, a token in it included.
func TestConnectHookWithoutJWTKeyAsksForEveryRequest(t *testing.T) {
	b := newBackend(t, answerJSON(200, `{}`))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	dial(t, n, "?token=whatever")
	reqs := b.requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0], `"token":"whatever"`) {
		t.Fatalf("requests %v, want one with the token in its query", reqs)
	}
	// Claims without allow allow nothing, as a token without allow.
	c, _ := dial(t, n, "")
	c.send(`{"type":"subscribe","id":"1","topic":"a"}`)
	if r := c.reply("1"); r["code"] != "forbidden" {
		t.Fatalf("subscribe with no allow claim: %v", r)
	}
}

// Every answer of section 11 and what the client is refused with.
func TestConnectHookRefusals(t *testing.T) {
	bigInfo := `{"info":{"x":"` + strings.Repeat("a", 1100) + `"}}`
	slow := func(w http.ResponseWriter, _ map[string]any) { time.Sleep(time.Second) }
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, map[string]any)
		status int
		code   string
	}{
		{"200 error unauthorized", answerJSON(200, `{"error":{"code":"unauthorized","message":"log in"}}`), 401, "unauthorized"},
		{"200 error forbidden", answerJSON(200, `{"error":{"code":"forbidden","message":"banned"}}`), 403, "forbidden"},
		{"401", answerJSON(401, `{}`), 401, "unauthorized"},
		{"403", answerJSON(403, ``), 403, "forbidden"},
		{"500", answerJSON(500, `{"user":"1"}`), 503, "unavailable"},
		{"302", answerJSON(302, `{"user":"1"}`), 503, "unavailable"},
		{"not JSON", answerJSON(200, `hello`), 503, "unavailable"},
		{"bad allow", answerJSON(200, `{"allow":{"subscribe":["a..b"]}}`), 503, "unavailable"},
		{"info over 1 KiB", answerJSON(200, bigInfo), 503, "unavailable"},
		{"info not an object", answerJSON(200, `{"info":[1]}`), 503, "unavailable"},
		{"timeout", slow, 503, "unavailable"},
	}
	b := newBackend(t, nil)
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL, Timeout: 200 * time.Millisecond}, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.setAnswer(c.answer)
			if r := refused(t, n, ""); r.status != c.status || r.code != c.code {
				t.Fatalf("got %+v, want %d %s", r, c.status, c.code)
			}
		})
	}
	if got := metric(t, n, `herald_hook_requests_total{hook="connect",outcome="timeout"}`); got != "1" {
		t.Fatalf("connect timeout count %q, want 1", got)
	}
	if got := metric(t, n, `herald_hook_requests_total{hook="connect",outcome="refused"}`); got != "4" {
		t.Fatalf("connect refused count %q, want 4", got)
	}
}

// A backend that cannot be reached at all is 503 too.
func TestConnectHookUnreachable(t *testing.T) {
	b := newBackend(t, nil)
	b.srv.Close()
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	if r := refused(t, n, ""); r.status != 503 || r.code != "unavailable" {
		t.Fatalf("got %+v, want 503 unavailable", r)
	}
}

// expire_at closes the connection with 4001 when it passes.
func TestConnectHookExpiry(t *testing.T) {
	exp := float64(time.Now().Add(time.Second).UnixMilli()) / 1000
	b := newBackend(t, answerJSON(200, fmt.Sprintf(`{"user":"1","expire_at":%.3f}`, exp)))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	c, _ := dial(t, n, "")
	if code := c.closedWith(); code != 4001 {
		t.Fatalf("closed with %d, want 4001", code)
	}
}

// An expire_at already passed is refused 401 before the upgrade, as an
// expired token is, rather than opened and closed with 4001 at once.
func TestConnectHookAnswerExpiredIsRefused(t *testing.T) {
	exp := float64(time.Now().Add(-time.Second).UnixMilli()) / 1000
	b := newBackend(t, answerJSON(200, fmt.Sprintf(`{"user":"1","expire_at":%.3f}`, exp)))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	if r := refused(t, n, ""); r.status != 401 || r.code != "unauthorized" {
		t.Fatalf("got %+v, want 401 unauthorized", r)
	}
}

// A backend slow to answer about one connection delays that connection
// only: others connect and work meanwhile.
func TestConnectHookSlowBackendDelaysOnlyItsConnection(t *testing.T) {
	release := newGate(t)
	b := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		if q, _ := body["query"].(map[string]any); q["who"] == "slow" {
			release.wait()
		}
		answerJSON(200, `{"allow":{"subscribe":[">"],"publish":[">"]}}`)(w, body)
	})
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL, Timeout: wait}, nil)
	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get(n.Base + "/ws?who=slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	eventually(t, "the slow request reaches the backend", func() bool { return len(b.requests()) == 1 })
	c, _ := dial(t, n, "?who=fast")
	c.send(`{"type":"subscribe","id":"1","topic":"a"}`)
	c.reply("1")
	c.send(`{"type":"publish","id":"2","topic":"a","data":1}`)
	if r := c.reply("2"); r["type"] != "published" {
		t.Fatalf("publish while another connection waits: %v", r)
	}
	select {
	case <-slow:
		t.Fatal("the slow connection was answered before its backend answered")
	default:
	}
	release.open()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// Hook requests reuse keep-alive connections: many requests, one
// connection to the backend.
func TestHooksReuseConnections(t *testing.T) {
	b := &backend{t: t, answer: answerJSON(200, `{}`)}
	var mu sync.Mutex
	opened := 0
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL, SubscribeURL: b.srv.URL}, nil)
	c, _ := dial(t, n, "")
	for i := range 10 {
		c.send(`{"type":"subscribe","id":"%d","topic":"t.%d"}`, i, i)
		c.reply(fmt.Sprint(i))
	}
	if got := len(b.requests()); got != 11 {
		t.Fatalf("%d hook requests, want 11", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if opened != 1 {
		t.Fatalf("%d connections to the backend for 11 requests, want 1", opened)
	}
}

// What is read of an answer is bounded: a backend that answers a
// megabyte is a bad answer, not a megabyte read.
func TestConnectHookAnswerIsBounded(t *testing.T) {
	huge := `{"user":"1","x":"` + strings.Repeat("a", 1<<20) + `"}`
	b := newBackend(t, answerJSON(200, huge))
	n := startNode(t, node.Hooks{ConnectURL: b.srv.URL}, nil)
	if r := refused(t, n, ""); r.status != 503 || r.code != "unavailable" {
		t.Fatalf("got %+v, want 503 unavailable", r)
	}
}
