package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// fakeAPI answers the part of the HTTP API the dashboard reads, behind an
// API key, as one node would.
type fakeAPI struct {
	t           *testing.T
	key, node   string
	connections int
	topics      []map[string]any

	mu        sync.Mutex
	polls     int
	published []publishCall
}

type publishCall struct {
	auth string
	body map[string]any
}

func (a *fakeAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("/api/stats", a.authorized(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.polls++
		n := a.polls
		a.mu.Unlock()
		writeJSON(w, map[string]any{"node": a.node, "uptime_s": 3725, "connections": a.connections,
			"subscriptions": 2 * a.connections, "topics": len(a.topics), "messages_in": 10 * n, "messages_out": 40 * n})
	}))
	mux.HandleFunc("/api/topics", a.authorized(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"topics": a.topics})
	}))
	mux.HandleFunc("/api/publish", a.authorized(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			a.t.Errorf("publish body: %v", err)
		}
		a.mu.Lock()
		a.published = append(a.published, publishCall{auth: r.Header.Get("Authorization"), body: body})
		a.mu.Unlock()
		writeJSON(w, map[string]any{"topic": body["topic"], "seq": 7, "msg": "m7"})
	}))
}

// authorized wants the key, and lets other origins in as a node of a
// cluster must for a dashboard served by another node.
func (a *fakeAPI) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+a.key {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]any{"error": map[string]any{"code": "unauthorized", "message": "API key required"}})
			return
		}
		next(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	nodeA := &fakeAPI{t: t, key: "k1", node: "node-a", connections: 3,
		topics: []map[string]any{{"topic": "chat.lobby", "subscribers": 2}, {"topic": "chat.*", "subscribers": 1}}}
	nodeA.register(f.mux)
	nodeB := &fakeAPI{t: t, key: "k1", node: "node-b", connections: 2,
		topics: []map[string]any{{"topic": "chat.lobby", "subscribers": 1}, {"topic": "news", "subscribers": 1}}}
	muxB := http.NewServeMux()
	nodeB.register(muxB)
	srvB := httptest.NewServer(muxB)
	t.Cleanup(srvB.Close)

	p := newPage(t, f.url("/?nodes="+f.srv.URL+","+srvB.URL), `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))

	// Totals add the nodes up; topics merge their subscriber counts.
	p.wait(`document.getElementById('stat-connections').textContent === '5'`)
	p.wait(`[...document.querySelectorAll('#nodes-table tbody tr')].map((r) => r.cells[0].textContent).join() === 'node-a,node-b'`)
	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => r.cells[0].textContent + '=' + r.cells[1].textContent).join() === 'chat.lobby=3,chat.*=1,news=1'`)
	if got := p.value(`sessionStorage.getItem('herald.apiKey')`); got != "k1" {
		t.Errorf("key kept as %q, want k1 in sessionStorage", got)
	}

	// The live tail subscribes through herald.js.
	p.do(chromedp.SetValue("#tail-pattern", "chat.>"), chromedp.Click("#tail-start"))
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	if cmd["topic"] != "chat.>" {
		t.Fatalf("tail subscribed %v, want chat.>", cmd)
	}
	c.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.>"})
	for seq := 1; seq <= 3; seq++ {
		m := message("chat.lobby", seq, map[string]any{"text": "hello from chat", "n": seq})
		m["pattern"] = "chat.>"
		c.send(m)
	}
	p.wait(`document.querySelectorAll('#tail li.msg').length === 3 && document.querySelector('#tail li.msg .data').textContent.includes('hello from chat')`)
	p.wait(`document.getElementById('tail-state').textContent === 'connected'`)

	// Publishing goes to POST /api/publish with the key.
	p.do(chromedp.SetValue("#publish-topic", "chat.lobby"), chromedp.SetValue("#publish-data", "{nope"),
		chromedp.Click("#publish-form button[type=submit]"))
	p.wait(`document.getElementById('publish-result').textContent.startsWith('Data is not JSON')`)
	p.do(chromedp.SetValue("#publish-data", `{"text":"from the form"}`), chromedp.Click("#publish-form button[type=submit]"))
	p.wait(`document.getElementById('publish-result').textContent === 'Published to chat.lobby: seq 7'`)
	nodeA.mu.Lock()
	calls := nodeA.published
	nodeA.mu.Unlock()
	if len(calls) != 1 || calls[0].auth != "Bearer k1" || calls[0].body["topic"] != "chat.lobby" {
		t.Errorf("publishes %+v, want one to chat.lobby with the key", calls)
	} else if data, _ := calls[0].body["data"].(map[string]any); data["text"] != "from the form" {
		t.Errorf("published data %v", calls[0].body["data"])
	}

	// Rates come from the counters' deltas and are charted.
	p.wait(`Number(document.getElementById('stat-out').textContent) > 0 &&
		document.querySelector('#spark-out polyline').getAttribute('points').split(' ').length >= 2`)

	keepScreenshot(t, p)
	p.checkNoProblems()
}

// keepScreenshot saves the page as <test name>.png under the test's temp
// dir, and also under $HERALD_ARTIFACTS when that is set (the temp dir goes
// away with the test).
// keepScreenshot saves a screenshot of p as a test artifact that outlives
// the test: in HERALD_ARTIFACTS, or in herald-artifacts under the system's
// temp dir.
func keepScreenshot(t *testing.T, p *page) {
	t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	dir := os.Getenv("HERALD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "herald-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("saving screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}

func TestDashboardExplainsARefusal(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	forbidden := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		writeJSON(w, map[string]any{"error": map[string]any{"code": "forbidden", "message": "loopback callers only"}})
	}
	f.mux.HandleFunc("/api/stats", forbidden)
	f.mux.HandleFunc("/api/topics", forbidden)
	p := newPage(t, f.url("/"), `!document.getElementById('banner').hidden`)
	if got := p.value(`document.getElementById('banner').textContent`); !strings.Contains(got, "HERALD_API_KEYS") {
		t.Errorf("banner %q does not say how to fix it", got)
	}
	p.wait(`document.querySelector('#nodes-table tbody').textContent.includes('loopback callers only')`)
	if got := p.value(`document.getElementById('poll-status').textContent`); got != "unreachable" {
		t.Errorf("status %q, want unreachable", got)
	}
	p.checkNoProblems()
}
