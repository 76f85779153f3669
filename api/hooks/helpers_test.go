package hooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	wait   = 10 * time.Second
	secret = "hook-secret"
)

// gate holds a backend's answers until the test opens it, or until the
// test has returned, passed or failed. Its end is t.Context's: canceled
// before any cleanup runs, so a handler still waiting answers before the
// node's Close and the backend's (which waits for its handlers) run, and
// a test that fails while one waits fails at once instead of hanging the
// package. A cleanup would run too late: cleanups run last registered
// first, and the backend and the node are made after the gate.
type gate struct {
	ch    chan struct{}
	once  sync.Once
	ended <-chan struct{}
}

func newGate(t *testing.T) *gate {
	return &gate{ch: make(chan struct{}), ended: t.Context().Done()}
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func (g *gate) wait() {
	select {
	case <-g.ch:
	case <-g.ended:
	}
}

// backend is the application's backend in a test: a real HTTP server
// that checks every request's signature on its own (crypto/hmac, not the
// package's Sign) and answers with the test's handler.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	answer func(w http.ResponseWriter, body map[string]any)
}

func newBackend(t *testing.T, answer func(w http.ResponseWriter, body map[string]any)) *backend {
	b := &backend{t: t, answer: answer}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(raw)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("X-Herald-Signature"); got != want || r.Method != http.MethodPost ||
		r.Header.Get("Content-Type") != "application/json" {
		b.t.Errorf("hook request %s with signature %q (want %q), Content-Type %q", r.Method, got, want, r.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		b.t.Errorf("hook body %s: %v", raw, err)
	}
	b.mu.Lock()
	b.bodies = append(b.bodies, string(raw))
	answer := b.answer
	b.mu.Unlock()
	answer(w, body)
}

func (b *backend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bodies...)
}

func (b *backend) setAnswer(answer func(w http.ResponseWriter, body map[string]any)) {
	b.mu.Lock()
	b.answer = answer
	b.mu.Unlock()
}

// answerJSON answers status with the JSON text body.
func answerJSON(status int, body string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// startNode runs a node with hooks h, signed with secret, and a short
// hook timeout.
func startNode(t *testing.T, h node.Hooks, tokens broker.TokenVerifier) *nodetest.Node {
	t.Helper()
	return startNodeWith(t, node.Config{Hooks: h, Tokens: tokens})
}

// startNodeWith is startNode with the rest of the node's settings too.
func startNodeWith(t *testing.T, cfg node.Config) *nodetest.Node {
	t.Helper()
	cfg.NodeID = "hooks-test"
	cfg.Hooks.Secret = []byte(secret)
	if cfg.Hooks.Timeout == 0 {
		cfg.Hooks.Timeout = 500 * time.Millisecond
	}
	cfg.Broker.RateLimit = 1000
	return nodetest.Start(t, nodetest.Options{Node: cfg})
}

// wsClient is a plain WebSocket client that reads only when told.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader
}

// dial opens a WebSocket to n with the given query and headers (name,
// value pairs) and returns it with its welcome.
func dial(t *testing.T, n *nodetest.Node, query string, headers ...string) (*wsClient, map[string]any) {
	t.Helper()
	return dialFrom(t, n, "", query, headers...)
}

// dialFrom is dial from the loopback address from ("": the system's
// choice): on Linux every 127/8 address is the loopback, so a test can be
// two clients.
func dialFrom(t *testing.T, n *nodetest.Node, from, query string, headers ...string) (*wsClient, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h), NetDial: netDialer(from).DialContext}
	conn, br, _, err := d.Dial(ctx, n.WS+query)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	welcome := c.read()
	if welcome["type"] != "welcome" {
		t.Fatalf("first message %v, want welcome", welcome)
	}
	return c, welcome
}

func (c *wsClient) send(format string, args ...any) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, fmt.Appendf(nil, format, args...)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next text message, decoded.
func (c *wsClient) read() map[string]any {
	c.t.Helper()
	rw := struct {
		io.Reader
		io.Writer
	}{c.r, c.conn}
	got, err := wsutil.ReadServerText(rw)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		c.t.Fatalf("message %s: %v", got, err)
	}
	return m
}

// reply reads until the reply with id and returns it.
func (c *wsClient) reply(id string) map[string]any {
	c.t.Helper()
	for {
		if m := c.read(); m["id"] == id {
			return m
		}
	}
}

// closedWith reads until the server's close frame and returns its code.
func (c *wsClient) closedWith() ws.StatusCode {
	c.t.Helper()
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			c.t.Fatalf("waiting for a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

// refusal is what a plain GET /ws is answered when refused.
type refusal struct {
	status     int
	code       string
	retryAfter string
}

// refused sends a plain GET /ws (no upgrade) with query and headers and
// returns the status and error code it is refused with.
func refused(t *testing.T, n *nodetest.Node, query string, headers ...string) refusal {
	t.Helper()
	return refusedFrom(t, n, "", "/ws"+query, headers...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of one sample line of /metrics, or "".
func metric(t *testing.T, n *nodetest.Node, series string) string {
	t.Helper()
	resp, err := http.Get(n.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// gather reads the client's metrics as /metrics would.
func gather(c *hooks.Client) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewRegistry()
	for _, col := range c.Metrics().Collectors() {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return reg.Gather()
}
