package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
)

// historyReply is GET /api/history, messages kept raw.
type historyReply struct {
	Topic    string            `json:"topic"`
	Epoch    string            `json:"epoch"`
	Seq      uint64            `json:"seq"`
	Messages []json.RawMessage `json:"messages"`
}

func history(t *testing.T, n *node, topic, query string) historyReply {
	t.Helper()
	var h historyReply
	n.get(t, "/api/history?topic="+topic+query).wantOK(t, &h)
	return h
}

func TestHistory(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	datas := []string{`{"text": "one"}`, `[1, 2,  3]`, `"three \u00e9"`, `null`}
	for _, d := range datas {
		n.post(t, "/api/publish", `{"topic":"news","data":`+d+`}`).wantOK(t, &published{})
	}
	h := history(t, n, "news", "&since=1")
	if h.Topic != "news" || h.Epoch == "" || h.Seq != 4 || len(h.Messages) != 3 {
		t.Fatalf("history: %+v", h)
	}
	for i, raw := range h.Messages {
		var m struct {
			Type, Topic, Msg string
			Seq              uint64
			Time             int64
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "message" || m.Topic != "news" || m.Seq != uint64(i+2) || m.Msg == "" || m.Time == 0 {
			t.Errorf("message %d: %s", i, raw)
		}
		if want := []byte(`"data":` + datas[i+1]); !bytes.Contains(raw, want) {
			t.Errorf("message %d: %s does not hold %s byte for byte", i, raw, want)
		}
	}
	if h := history(t, n, "news", "&limit=2"); len(h.Messages) != 2 || h.Seq != 4 {
		t.Fatalf("limit=2: %d messages, seq %d", len(h.Messages), h.Seq)
	}
	if h := history(t, n, "news", "&since=4"); len(h.Messages) != 0 || h.Messages == nil {
		t.Fatalf("since=4: %+v, want an empty array", h)
	}
}

func TestHistoryOfUnknownTopic(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	if h := history(t, n, "never.published", ""); h.Seq != 0 || len(h.Messages) != 0 {
		t.Fatalf("%+v", h)
	}
}

func TestHistoryBadQueries(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	cases := []struct{ query, code string }{
		{"", "bad_request"},
		{"?since=1", "bad_request"},
		{"?topic=a&since=-1", "bad_request"},
		{"?topic=a&since=x", "bad_request"},
		{"?topic=a&limit=0", "bad_request"},
		{"?topic=a&limit=ten", "bad_request"},
		{"?topic=", "invalid_topic"},
		{"?topic=a.*", "invalid_topic"},
		{"?topic=.a", "invalid_topic"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			n.get(t, "/api/history"+tc.query).wantError(t, http.StatusBadRequest, tc.code)
		})
	}
}

func TestTopicsEmpty(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	r := n.get(t, "/api/topics")
	if r.status != http.StatusOK || string(r.body) != `{"topics":[]}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestStats(t *testing.T) {
	n := startNode(t, api.Config{Version: "v1.2.3-4-gabcdef"}, nil)
	n.post(t, "/api/publish", `{"topic":"a","data":1}`).wantOK(t, &published{})
	var st map[string]any
	n.get(t, "/api/stats").wantOK(t, &st)
	for _, k := range []string{"node", "uptime_s", "connections", "subscriptions", "topics", "messages_in", "messages_out", "version"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lack %q: %v", k, st)
		}
	}
	if st["node"] != "test-node" || st["messages_in"] != float64(1) || st["version"] != "v1.2.3-4-gabcdef" {
		t.Fatalf("stats: %v", st)
	}
}

func TestHealthz(t *testing.T) {
	n := startNode(t, api.Config{APIKeys: []string{"k"}}, nil)
	if r := n.get(t, "/healthz"); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := n.do(t, http.MethodHead, "/healthz", ""); r.status != http.StatusOK {
		t.Fatalf("HEAD: %d", r.status)
	}
	if r := n.get(t, "/readyz"); r.status != http.StatusOK {
		t.Fatalf("readyz with the memory engine: %d %s", r.status, r.body)
	}
}

// notReadyEngine is an engine whose backend is down.
type notReadyEngine struct{ err error }

func (e notReadyEngine) Attach(broker.Handler) {}
func (e notReadyEngine) Publish(context.Context, broker.PublishRequest) (broker.PublishResult, error) {
	return broker.PublishResult{}, broker.Unavailable(e.err)
}
func (e notReadyEngine) History(context.Context, string, uint64, int) (broker.HistoryResult, error) {
	return broker.HistoryResult{}, broker.Unavailable(e.err)
}
func (e notReadyEngine) Position(context.Context, string) (broker.Position, error) {
	return broker.Position{}, broker.Unavailable(e.err)
}
func (e notReadyEngine) Subscribe(context.Context, string) error   { return broker.Unavailable(e.err) }
func (e notReadyEngine) Unsubscribe(context.Context, string) error { return nil }
func (e notReadyEngine) AddPresence(context.Context, broker.PresenceEntry) error {
	return broker.Unavailable(e.err)
}
func (e notReadyEngine) RemovePresence(context.Context, broker.PresenceEntry) error { return nil }
func (e notReadyEngine) Presence(context.Context, string, broker.PresencePage) (broker.PresenceState, error) {
	return broker.PresenceState{}, broker.Unavailable(e.err)
}
func (e notReadyEngine) Control(context.Context, broker.Control) error {
	return broker.Unavailable(e.err)
}
func (e notReadyEngine) Ready(context.Context) error {
	return fmt.Errorf("redis at 127.0.0.1:1: %w", e.err)
}

var _ broker.ReadyChecker = notReadyEngine{}

func TestNotReady(t *testing.T) {
	n := startNode(t, api.Config{}, notReadyEngine{err: errors.New("connection refused")})
	msg := n.get(t, "/readyz").wantError(t, http.StatusServiceUnavailable, "unavailable")
	if msg != "redis at 127.0.0.1:1: connection refused" {
		t.Fatalf("message %q does not carry the engine's error", msg)
	}
	if r := n.get(t, "/healthz"); r.status != http.StatusOK {
		t.Fatalf("healthz while not ready: %d", r.status)
	}
	n.post(t, "/api/publish", `{"topic":"a","data":1}`).wantError(t, http.StatusServiceUnavailable, "unavailable")
	n.get(t, "/api/history?topic=a").wantError(t, http.StatusServiceUnavailable, "unavailable")
}

func TestMethodNotAllowed(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	cases := []struct{ method, path, allow string }{
		{"GET", "/api/publish", "POST"},
		{"PUT", "/api/broadcast", "POST"},
		{"GET", "/api/batch", "POST"},
		{"POST", "/api/history", "GET, HEAD"},
		{"DELETE", "/api/topics", "GET, HEAD"},
		{"POST", "/api/stats", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
		{"POST", "/readyz", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
		{"POST", "/ws", "GET, HEAD"},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			r := n.do(t, tc.method, tc.path, "{}")
			r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestUnknownPathAndMetrics(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	n.get(t, "/api/nothing").wantError(t, http.StatusNotFound, "not_found")
	// A node always has metrics; only a server built by hand can lack them.
	bare := api.New(api.Config{}, nil, newTransport(t))
	defer closeWithin(t, "server", bare.Shutdown)
	rec := httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotImplemented {
		t.Fatalf("/metrics without a handler: %d", rec.Code)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("herald_up 1\n")) })
	m := startNode(t, api.Config{Metrics: metrics, APIKeys: []string{"k"}}, nil)
	if r := m.get(t, "/metrics"); r.status != http.StatusOK || string(r.body) != "herald_up 1\n" {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
}

func TestFilesServeOtherPaths(t *testing.T) {
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("file " + r.URL.Path)) })
	n := startNode(t, api.Config{Files: files}, nil)
	if r := n.get(t, "/herald.js"); r.status != http.StatusOK || string(r.body) != "file /herald.js" {
		t.Fatalf("/herald.js: %d %s", r.status, r.body)
	}
	if r := n.get(t, "/"); string(r.body) != "file /" {
		t.Fatalf("/: %d %s", r.status, r.body)
	}
	n.get(t, "/api/nothing").wantError(t, http.StatusNotFound, "not_found")
}
