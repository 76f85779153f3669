package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeAPI answers the part of the HTTP API the dashboard reads, behind an
// API key, as one node of a two-node cluster would.
type fakeAPI struct {
	t   *testing.T
	key string

	mu        sync.Mutex
	polls     int
	published []publishCall
	tokens    []string // the Authorization of each tail-token request
	history   []string // the query of each history request
}

type publishCall struct {
	auth string
	body map[string]any
}

// historySeq is the last seq of the fake's chat.lobby history.
const historySeq = 120

func (a *fakeAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("/api/stats", a.authorized(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.polls++
		n := a.polls
		a.mu.Unlock()
		node := func(id string, conns int) map[string]any {
			return map[string]any{"node": id, "version": "1.1.0-test", "uptime_s": 3725, "rss_bytes": 48 << 20,
				"heap_bytes": 9 << 20, "cpu_percent": 3.5, "connections": conns, "sse_connections": conns - 2, "subscriptions": 2 * conns,
				"topics": 2, "messages_in": 10 * n, "messages_out": 40 * n, "in_per_s": 5, "out_per_s": 20 + n,
				"at_ms": time.Now().UnixMilli()}
		}
		writeJSON(w, map[string]any{"node": "node-a", "uptime_s": 3725, "connections": 3, "subscriptions": 6,
			"topics": 2, "messages_in": 10 * n, "messages_out": 40 * n, "version": "1.1.0-test",
			"cluster": map[string]any{
				"nodes":       []any{node("node-a", 3), node("node-b", 2)},
				"connections": 5, "sse_connections": 1, "subscriptions": 10, "in_per_s": 10, "out_per_s": 40 + 2*n,
				"topics": []any{
					map[string]any{"topic": "chat.lobby", "subscribers": 3, "publish_rate": 2.5, "epoch": "e1",
						"last_seq": historySeq, "last_publish_ms": time.Now().UnixMilli()},
					map[string]any{"topic": "chat.*", "subscribers": 1, "publish_rate": 0},
					map[string]any{"topic": "lonely", "subscribers": 0, "publish_rate": 7, "epoch": "e2",
						"last_seq": 9, "last_publish_ms": time.Now().UnixMilli()},
				},
				"topics_cut": true,
			}})
	}))
	mux.HandleFunc("/api/tail-token", a.authorized(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			a.t.Errorf("tail token asked with %s", r.Method)
		}
		a.mu.Lock()
		a.tokens = append(a.tokens, r.Header.Get("Authorization"))
		a.mu.Unlock()
		writeJSON(w, map[string]any{"token": "htt1.fake", "expires_in": 60})
	}))
	mux.HandleFunc("/api/history", a.authorized(a.serveHistory))
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

// serveHistory answers chat.lobby's messages 1..historySeq as
// /api/history does.
func (a *fakeAPI) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	a.history = append(a.history, q.Get("since")+"+"+q.Get("limit"))
	a.mu.Unlock()
	since, _ := strconv.Atoi(q.Get("since"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	msgs := []any{}
	for seq := since + 1; seq <= historySeq && len(msgs) < limit; seq++ {
		msgs = append(msgs, map[string]any{"type": "message", "topic": "chat.lobby", "epoch": "e1", "seq": seq,
			"msg": fmt.Sprintf("m%d", seq), "time": time.Now().UnixMilli(), "data": map[string]any{"n": seq}})
	}
	writeJSON(w, map[string]any{"topic": q.Get("topic"), "epoch": "e1", "seq": historySeq, "messages": msgs})
}

func (a *fakeAPI) calls() (tokens, history []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...), append([]string(nil), a.history...)
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

// TestDashboard shows the cluster as one node answers for it, passing over
// a listed node that is down; browses history; tails a topic with the API
// key alone; publishes.
func TestDashboard(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	nodeA := &fakeAPI{t: t, key: "k1"}
	nodeA.register(f.mux)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // a node listed first that is down

	p := newPage(t, f.url("/?nodes="+dead.URL+","+f.srv.URL), `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))

	// The cluster's totals and nodes as the answering node sends them, and
	// the dead node listed apart.
	p.wait(`document.getElementById('stat-connections').textContent === '5' && document.getElementById('stat-nodes').textContent === '2' &&
		document.getElementById('stat-sse').textContent === '(1 SSE)'`)
	p.wait(`[...document.querySelectorAll('#nodes-table tbody tr')].map((r) => r.cells[0].textContent + ' ' + r.cells.item(r.cells.length - 1).textContent).join() ===
		'node-a up,node-b up,` + dead.URL + ` unreachable, or no CORS for this page'`)
	if got := p.value(`[...document.querySelector('#nodes-table tbody tr').cells].map((c) => c.textContent).join('|')`); !strings.HasPrefix(got, "node-a|1.1.0-test|1h 2m|48.0 MiB|9.0 MiB|3.5 %|3|1|6|5|") {
		t.Errorf("node row %q", got)
	}
	// Each topic once, with its rate and last seq; a topic without
	// subscribers too; and the note that the list is cut.
	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => [0, 1, 2, 3].map((i) => r.cells[i].textContent).join('/')).join() ===
		'chat.lobby/3/2.5/120,chat.*/1/0/–,lonely/0/7/9' && !document.getElementById('topics-cut').hidden`)
	if got := p.value(`sessionStorage.getItem('herald.apiKey')`); got != "k1" {
		t.Errorf("key kept as %q, want k1 in sessionStorage", got)
	}

	// History of a topic from its row: the latest page, then older, newer.
	p.clickNow(`#topics-table tbody tr:first-child button:nth-child(2)`)
	historyRows := `[...document.querySelectorAll('#history-table tbody tr')].map((r) => r.dataset.seq)`
	p.wait(historyRows + `.join() === '` + numbers(71, 120) + `'`)
	p.wait(`document.getElementById('history-result').textContent === 'chat.lobby: seq 71–120 of 120 (epoch e1)' && document.getElementById('history-newer').disabled`)
	p.do(chromedp.Click("#history-older"))
	p.wait(historyRows + `.join() === '` + numbers(21, 70) + `'`)
	p.do(chromedp.Click("#history-newer"))
	p.wait(historyRows + `.join() === '` + numbers(71, 120) + `'`)
	p.wait(`document.querySelector('#history-table tbody tr .data').textContent === '{"n":71}'`)
	if _, history := nodeA.calls(); strings.Join(history, " ") != "0+1 70+50 20+50 70+50" {
		t.Errorf("history requests (since+limit) %q", history)
	}

	// The live tail subscribes through herald.js with a tail token bought
	// with the API key: no client token was typed.
	p.clickNow(`#topics-table tbody tr:first-child button:nth-child(1)`)
	c := f.accept(ctx)
	if got := c.query.Get("token"); got != "htt1.fake" {
		t.Errorf("the tail connected with token %q, want the tail token", got)
	}
	if tokens, _ := nodeA.calls(); len(tokens) != 1 || tokens[0] != "Bearer k1" {
		t.Errorf("tail token requests %q, want one with the key", tokens)
	}
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	if cmd["topic"] != "chat.lobby" {
		t.Fatalf("tail subscribed %v, want chat.lobby", cmd)
	}
	c.send(map[string]any{"type": "subscribed", "id": cmd["id"], "topic": "chat.lobby"})
	for seq := 1; seq <= 3; seq++ {
		c.send(message("chat.lobby", seq, map[string]any{"text": "hello from chat", "n": seq}))
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

	// Rates are the cluster's, charted.
	p.wait(`Number(document.getElementById('stat-out').textContent) > 40 &&
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
