package api_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api"
)

// TestSSEDeliversMessagesAsEvents: the first event is subscribed, then
// every message is an event without an event line whose data is the JSON
// a WebSocket client gets (history serves the same text) and whose id
// differs from every other.
func TestSSEDeliversMessagesAsEvents(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=chat.lobby&topic=news.*")
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	topics, firstID := s.subscribed(t)
	if len(topics) != 2 || topics[0].Topic != "chat.lobby" || topics[0].Epoch == "" || topics[0].Seq == nil ||
		topics[0].Recovered != nil || topics[1].Topic != "news.*" || topics[1].Epoch != "" || topics[1].Seq != nil {
		t.Fatalf("subscribed %+v", topics)
	}
	publishN(t, n.Base, "chat.lobby", 2)
	publishN(t, n.Base, "news.eu", 1)
	ids := map[string]bool{firstID: true}
	var history struct {
		Messages []json.RawMessage `json:"messages"`
	}
	reply := get(t, n.Base+"/api/history?topic=chat.lobby")
	if err := json.Unmarshal(reply, &history); err != nil || len(history.Messages) != 2 {
		t.Fatalf("history %s", reply)
	}
	for i := range 3 {
		m, ev := s.message(t)
		if ids[ev.id] {
			t.Fatalf("id %q given twice", ev.id)
		}
		ids[ev.id] = true
		switch {
		case i < 2 && (m.Topic != "chat.lobby" || m.Seq != uint64(i+1) || ev.data != string(history.Messages[i])):
			t.Fatalf("event %d: %s, want %s", i, ev.data, history.Messages[i])
		case i == 2 && (m.Topic != "news.eu" || m.Pattern != "news.*"):
			t.Fatalf("pattern event: %s", ev.data)
		}
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSSEStatsCountStreamsApart: /api/stats counts streams among the
// connections, and apart.
func TestSSEStatsCountStreamsApart(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	mustOpenSSE(t, n.Base, "/sse?topic=a").subscribed(t)
	var st struct {
		Connections    int `json:"connections"`
		SSEConnections int `json:"sse_connections"`
	}
	if err := json.Unmarshal(get(t, n.Base+"/api/stats"), &st); err != nil || st.Connections != 1 || st.SSEConnections != 1 {
		t.Fatalf("stats %+v (%v)", st, err)
	}
	if got := n.Transport.Stats(); got.Streams != 1 || got.Connections != 0 {
		t.Fatalf("transport stats: %d streams, %d WebSockets", got.Streams, got.Connections)
	}
}

// TestSSEServerControls: a token's subs are streamed and announced in the
// subscribed event, a backend's subscribe reaches a stream as an event
// named subscribed with the WebSocket reply as data, and a backend's
// disconnect ends it with 4004.
func TestSSEServerControls(t *testing.T) {
	n := sseNode(t, api.Config{Tokens: hsVerifier(t)}, nil, 0, 0)
	tok := token(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{
		"sub": "u", "exp": time.Now().Add(time.Hour).Unix(),
		"allow": map[string][]string{"subscribe": {"chat.*"}},
		"subs":  []string{"user:u.notices"},
	})
	s := mustOpenSSE(t, n.Base, "/sse?topic=chat.a&token="+tok)
	topics, _ := s.subscribed(t)
	if len(topics) != 2 || topics[1].Topic != "user:u.notices" || topics[1].Seq == nil {
		t.Fatalf("subscribed %+v, want chat.a and the token's subs", topics)
	}
	publishN(t, n.Base, "user:u.notices", 1)
	if m, _ := s.message(t); m.Topic != "user:u.notices" {
		t.Fatalf("message %+v", m)
	}
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(n.Base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	post("/api/subscribe", `{"user":"u","topic":"news"}`)
	ev := s.event(t)
	var reply struct {
		Type   string `json:"type"`
		Topic  string `json:"topic"`
		Server bool   `json:"server"`
	}
	if ev.event != "subscribed" || json.Unmarshal([]byte(ev.data), &reply) != nil || reply.Type != "subscribed" || reply.Topic != "news" || !reply.Server {
		t.Fatalf("event %+v, want the server's subscribed", ev)
	}
	publishN(t, n.Base, "news", 1)
	if m, ev := s.message(t); m.Topic != "news" || !ev.hasID {
		t.Fatalf("message %+v", m)
	}
	post("/api/disconnect", `{"user":"u"}`)
	if code := s.closeCode(t); code != 4004 {
		t.Fatalf("close code %d, want 4004", code)
	}
}

// TestSSEHead answers HEAD with the headers of a stream and opens none.
func TestSSEHead(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	resp, err := http.Head(n.Base + "/sse?topic=a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if st := n.Broker.Stats(); st.Streams != 0 || st.Subscriptions != 0 {
		t.Fatalf("HEAD left %d streams, %d subscriptions", st.Streams, st.Subscriptions)
	}
}

// TestSSEOverTLS: a stream over TLS (the portable path, as for wss://)
// delivers and resumes like one over plain TCP; the client may offer h2,
// the server answers HTTP/1.1, so the connection can be taken over.
func TestSSEOverTLS(t *testing.T) {
	serverTLS, pool := selfSignedTLS(t)
	n := sseNode(t, api.Config{TLS: serverTLS}, nil, 0, 0)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, n.Base+"/sse?topic=secure", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: func() {}}
	t.Cleanup(s.close)
	s.subscribed(t)
	https := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	pub, err := https.Post(n.Base+"/api/publish", "application/json", strings.NewReader(`{"topic":"secure","data":"over tls"}`))
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if m, _ := s.message(t); string(m.Data) != `"over tls"` {
		t.Fatalf("message %+v", m)
	}
}

// TestSSEDataWithLineBreaks: data published with line breaks in its
// whitespace arrives on several data lines, which a client joins into the
// same JSON value (a CR as LF).
func TestSSEDataWithLineBreaks(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=a")
	s.subscribed(t)
	body := "{\"topic\":\"a\",\"data\":{\n  \"x\": [1,\r\n 2],\r  \"y\": \"z\"\n}}"
	resp, err := http.Post(n.Base+"/api/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, ev := s.message(t)
	var history struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(get(t, n.Base+"/api/history?topic=a"), &history); err != nil || len(history.Messages) != 1 {
		t.Fatalf("history: %v", err)
	}
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(history.Messages[0]))
	if ev.data != want || !strings.Contains(ev.data, "\n") {
		t.Fatalf("data %q, want %q", ev.data, want)
	}
}
