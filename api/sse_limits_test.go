package api_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/internal/nodetest"
)

// Refusals, limits and the ends of a stream (docs/protocol.md section 10).

func TestSSERefusals(t *testing.T) {
	n := sseNode(t, api.Config{Tokens: hsVerifier(t), AllowedOrigins: []string{"https://app.example"}}, nil, 0, 0)
	tok := hsToken(t, "u", map[string][]string{"subscribe": {"chat.*"}})
	refused := func(path string, headers ...string) reply {
		t.Helper()
		s, r := openSSE(t, n.Base, path, headers...)
		if s != nil {
			t.Fatalf("GET %s: opened", path)
		}
		return *r
	}
	refused("/sse?topic=chat.a").wantError(t, http.StatusUnauthorized, "unauthorized")
	refused("/sse?topic=chat.a&token=bad").wantError(t, http.StatusUnauthorized, "unauthorized")
	refused("/sse?topic=news&token="+tok).wantError(t, http.StatusForbidden, "forbidden")
	refused("/sse?topic=chat.>&token="+tok).wantError(t, http.StatusForbidden, "forbidden")
	refused("/sse?token="+tok).wantError(t, http.StatusBadRequest, "bad_request")
	refused("/sse?topic=chat..a&token="+tok).wantError(t, http.StatusBadRequest, "invalid_topic")
	refused("/sse?topic=chat.a"+strings.Repeat("&topic=chat.a", 32)+"&token="+tok).wantError(t, http.StatusBadRequest, "bad_request")
	r := refused("/sse?topic=chat.a&token="+tok, "Origin", "https://evil.example")
	r.wantError(t, http.StatusForbidden, "forbidden")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("an origin not allowed is named: Access-Control-Allow-Origin %q", got)
	}
	// A refusal of an allowed origin is readable by it.
	r = refused("/sse?topic=news&token="+tok, "Origin", "https://app.example")
	r.wantError(t, http.StatusForbidden, "forbidden")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("a refusal of an allowed origin: Access-Control-Allow-Origin %q", got)
	}
	// 32 topics, the token in the Authorization header, an allowed origin:
	// the stream opens, and the origin may read it.
	path := "/sse?topic=chat.a" + strings.Repeat("&topic=chat.b", 31)
	s := mustOpenSSE(t, n.Base, path, "Authorization", "Bearer "+tok, "Origin", "https://app.example")
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	if topics, _ := s.subscribed(t); len(topics) != 2 {
		t.Fatalf("repeated topics: %+v", topics)
	}
}

// TestSSEAnyOriginIsEchoed: with no origin list, any page may read a
// stream, and its refusals.
func TestSSEAnyOriginIsEchoed(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=a", "Origin", "https://elsewhere.example")
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://elsewhere.example" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	_, r := openSSE(t, n.Base, "/sse", "Origin", "https://elsewhere.example")
	if r == nil || r.header.Get("Access-Control-Allow-Origin") != "https://elsewhere.example" {
		t.Fatalf("refusal %+v", r)
	}
}

// TestSSEPerAddressLimits: streams count toward the connections of an
// address, as WebSockets do.
func TestSSEPerAddressLimits(t *testing.T) {
	n := sseNode(t, api.Config{Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 2, Rate: 1, Burst: 2})}, nil, 0, 0)
	mustOpenSSE(t, n.Base, "/sse?topic=a").subscribed(t)
	mustOpenSSE(t, n.Base, "/sse?topic=a").subscribed(t)
	resp, err := http.Get(n.Base + "/sse?topic=a")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third stream: %d, want 429", resp.StatusCode)
		}
	} // else refused at accept, the answer lost with the close
}

func TestSSEHeartbeatComment(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 100*time.Millisecond, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=a")
	s.subscribed(t)
	for {
		ev, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.comment == "ping" {
			return
		}
		t.Fatalf("want a ping comment, got %+v", ev)
	}
}

func TestSSEShutdownEndsWith1001(t *testing.T) {
	onEachPath(t, func(t *testing.T, portable bool) {
		n := ssePathNode(t, api.Config{}, nil, 0, 0, portable)
		s := mustOpenSSE(t, n.Base, "/sse?topic=a")
		s.subscribed(t)
		publishN(t, n.Base, "a", 1)
		s.message(t)
		go closeWithin(t, "api", n.API.Shutdown)
		if code := s.closeCode(t); code != 1001 {
			t.Fatalf("close code %d, want 1001", code)
		}
	})
}

// TestSSESlowReaderEndsWith4000: a client that stops reading is cut when
// its queue overflows: what it reads then is whole events, then the close
// event with 4000, then the end.
func TestSSESlowReaderEndsWith4000(t *testing.T) {
	onEachPath(t, testSlowReader)
}

func testSlowReader(t *testing.T, portable bool) {
	n := ssePathNode(t, api.Config{}, nil, 0, 16<<10, portable)
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /sse?topic=a&topic=b HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // subscribed before the flood
	// Publish until the queue overflowed: first the kernel's buffers
	// fill, then the queue. Then read at once, before the close
	// deadline drops a socket whose reader never reads.
	big := strings.Repeat("x", 8000)
	for i := 0; slowConsumersClosed(n) == 0; i++ {
		if i == 5000 {
			t.Fatal("the queue never overflowed")
		}
		resp, err := http.Post(n.Base+"/api/publish", "application/json", strings.NewReader(`{"topic":"a","data":"`+big+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s := streamOn(t, c)
	closed := s.closeEvent(t, func(ev sseEvent) {
		var m streamMessage
		if ev.event != "" || json.Unmarshal([]byte(ev.data), &m) != nil || m.Type != "message" {
			t.Fatalf("a cut event: %.80q", ev.data)
		}
	})
	if closed != `{"code":4000}` {
		t.Fatalf("close event %q", closed)
	}
	if _, err := s.next(); err != io.EOF {
		t.Fatalf("after close: %v", err)
	}
}

// TestSSEClientThatSendsIsClosed: an SSE client sends nothing after its
// request; one that goes on sending is cut with 1008 once it sent a few
// kilobytes, so reading it costs a bounded amount.
func TestSSEClientThatSendsIsClosed(t *testing.T) {
	onEachPath(t, testClientThatSends)
}

func testClientThatSends(t *testing.T, portable bool) {
	n := ssePathNode(t, api.Config{}, nil, 0, 0, portable)
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
	go func() {
		junk := strings.Repeat("j", 1024)
		for i := 0; i < 64; i++ {
			if _, err := io.WriteString(c, junk); err != nil {
				return
			}
		}
	}()
	if closed := streamOn(t, c).closeEvent(t, nil); closed != `{"code":1008}` {
		t.Fatalf("close event %q", closed)
	}
}

// TestSSETokenExpiryEndsWith4001: a stream ends when its token expires,
// as a WebSocket does.
func TestSSETokenExpiryEndsWith4001(t *testing.T) {
	n := sseNode(t, api.Config{Tokens: hsVerifier(t)}, nil, 0, 0)
	tok := hsTokenUntil(t, "u", everything, time.Now().Add(1500*time.Millisecond))
	s := mustOpenSSE(t, n.Base, "/sse?topic=a", "Authorization", "Bearer "+tok)
	s.subscribed(t)
	if code := s.closeCode(t); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}
}

// slowConsumersClosed is how many connections n closed with 4000.
func slowConsumersClosed(n *nodetest.Node) uint64 {
	var total uint64
	for _, c := range n.Transport.Stats().Closes {
		if c.Code == 4000 && !c.ByClient {
			total += c.Count
		}
	}
	return total
}
