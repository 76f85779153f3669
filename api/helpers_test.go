package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// testMaxMessageBytes is small so that 413 cases stay small.
const testMaxMessageBytes = 1024

// node is one Herald server on a loopback port.
type node struct {
	srv    *api.Server
	base   string // http://127.0.0.1:port, https:// with cfg.TLS
	addr   string // 127.0.0.1:port
	wsURL  string // ws://127.0.0.1:port/ws, wss:// with cfg.TLS
	broker *broker.Broker
}

// startNode serves cfg over eng (nil: a memory engine) on 127.0.0.1:0 and
// stops everything when the test ends.
func startNode(t testing.TB, cfg api.Config, eng broker.Engine) *node {
	t.Helper()
	return startNodeClosingIn(t, cfg, eng, 0)
}

// startNodeClosingIn is startNode whose connections are closed closeTimeout
// after their close began, at the latest (0: transport's 5 s), for the
// tests that wait for that deadline.
func startNodeClosingIn(t testing.TB, cfg api.Config, eng broker.Engine, closeTimeout time.Duration) *node {
	t.Helper()
	nc := heraldnode.Config{
		NodeID: "test-node", MaxMessageBytes: cfg.MaxMessageBytes, Tokens: cfg.Tokens,
		Broker:    broker.Config{MaxSubscriptions: 100, RateLimit: 1000, Logger: cfg.Logger},
		Transport: transport.Config{Logger: cfg.Logger, CloseTimeout: closeTimeout},
	}
	if nc.MaxMessageBytes == 0 {
		nc.MaxMessageBytes = testMaxMessageBytes
	}
	nc.Version = cfg.Version
	cfg.MaxMessageBytes, cfg.Tokens, cfg.Version = 0, nil, "" // the node's to set, once
	nc.API = cfg
	n := nodetest.Start(t, nodetest.Options{Engine: eng, Node: nc})
	return &node{srv: n.API, base: n.Base, addr: n.Addr, wsURL: n.WS, broker: n.Broker}
}

func closeWithin(t testing.TB, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := close(ctx); err != nil {
		t.Errorf("close %s: %v", what, err)
	}
}

// reply is one HTTP answer, its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request; body "" sends none. Headers are name, value pairs.
func (n *node) do(t *testing.T, method, path, body string, headers ...string) reply {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.base+path, r)
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (n *node) post(t *testing.T, path, body string, headers ...string) reply {
	t.Helper()
	return n.do(t, http.MethodPost, path, body, headers...)
}

func (n *node) get(t *testing.T, path string, headers ...string) reply {
	t.Helper()
	return n.do(t, http.MethodGet, path, "", headers...)
}

// wantOK decodes a 200 reply into v.
func (r reply) wantOK(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// wantError checks a failure's status and code as docs/protocol.md section 3.
func (r reply) wantError(t *testing.T, status int, code string) string {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("status %d, body %q is not an error body: %v", r.status, r.body, err)
	}
	if r.status != status || body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("got %d %s %q, want %d %s with a message", r.status, body.Error.Code, body.Error.Message, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return body.Error.Message
}

// published is the reply to one publish.
type published struct {
	Topic string `json:"topic"`
	Seq   uint64 `json:"seq"`
	Msg   string `json:"msg"`
}

type results struct {
	Results []published `json:"results"`
}

// newTransport is a transport no client reaches, for servers built by hand.
func newTransport(t *testing.T) *transport.Server {
	t.Helper()
	ws, err := transport.New(transport.Config{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}
