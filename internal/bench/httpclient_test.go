package bench

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadHTTPReply(t *testing.T) {
	var buf []byte
	ok := "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX: y\r\n\r\nhello"
	status, body, err := readHTTPReply(bufio.NewReader(strings.NewReader(ok)), &buf)
	if err != nil || status != 200 || string(body) != "hello" {
		t.Errorf("got %d %q %v", status, body, err)
	}
	for name, reply := range map[string]string{
		"no length":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"bad length":   "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"bad status":   "SSH-2.0-OpenSSH\r\n",
		"short body":   "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi",
		"cut headers":  "HTTP/1.1 200 OK\r\nContent-Le",
		"empty":        "",
		"status words": "HTTP/1.1 abc OK\r\n\r\n",
	} {
		if _, _, err := readHTTPReply(bufio.NewReader(strings.NewReader(reply)), &buf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHTTPConnKeepsAliveAndSendsKey(t *testing.T) {
	var auth []string
	remotes := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		remotes[r.RemoteAddr] = true
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"code":"rate_limited"}}`))
	}))
	defer srv.Close()
	target := Target{HostPort: srv.Listener.Addr().String()}
	hc := newHTTPConn(target, "/api/publish", dialectOf(ServerHerald).headerLine("secret"), 5*time.Second)
	defer hc.close()
	for i := 0; i < 3; i++ {
		reply, err := hc.post(context.Background(), []byte(`{}`))
		if err != nil || reply.status != 429 || !strings.Contains(string(reply.body), "rate_limited") {
			t.Fatalf("post %d: %d %q %v", i, reply.status, reply.body, err)
		}
		if reply.took <= 0 {
			t.Errorf("post %d: round trip %v", i, reply.took)
		}
	}
	if len(remotes) != 1 || auth[2] != "Bearer secret" {
		t.Errorf("connections %d, auth %q", len(remotes), auth)
	}
}
