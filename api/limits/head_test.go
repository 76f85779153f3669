package limits

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawRequests are upgrade requests byte for byte as clients send them,
// with no optional whitespace, so RequestHeadBytes must give their length.
var rawRequests = []string{
	"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws?token=aaaa.bbbb.cccc HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: https://app.example\r\n" +
		"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
	"GET /ws HTTP/1.0\r\n\r\n",
	"POST /api/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\n\r\n",
}

func TestRequestHeadBytesAsReceived(t *testing.T) {
	for _, raw := range rawRequests {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		head := raw[:strings.Index(raw, "\r\n\r\n")+4]
		if got := RequestHeadBytes(r); got != len(head) {
			t.Errorf("RequestHeadBytes = %d, want %d for\n%s", got, len(head), head)
		}
	}
}

func TestRequestHeadBytesNeverOver(t *testing.T) {
	raw := "GET /ws HTTP/1.1\r\nHost:   example.com  \r\nX-A:  1\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got := RequestHeadBytes(r); got > len(raw) || got < len(raw)-8 {
		t.Errorf("RequestHeadBytes = %d for %d bytes sent with 8 of optional whitespace", got, len(raw))
	}
}

// TestHeadTooLargeOnARealServer sends requests of exactly the limit
// and one byte over to a real http.Server, as the server's handler sees
// them.
func TestHeadTooLargeOnARealServer(t *testing.T) {
	const limit = 2048
	srv := &http.Server{
		MaxHeaderBytes:    limit,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if HeadTooLarge(r, limit) {
				w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	for _, c := range []struct {
		size, status int
	}{
		{limit, http.StatusNoContent},
		{limit + 1, http.StatusRequestHeaderFieldsTooLarge},
		{limit + 3000, http.StatusRequestHeaderFieldsTooLarge}, // inside net/http's slack
		{limit + 5000, http.StatusRequestHeaderFieldsTooLarge}, // net/http's own 431
	} {
		if got := send(t, ln.Addr().String(), requestOfSize(c.size)); got != c.status {
			t.Errorf("request of %d bytes: status %d, want %d", c.size, got, c.status)
		}
	}
}

// requestOfSize is an upgrade request whose head is exactly size bytes.
func requestOfSize(size int) string {
	head := "GET /ws?token=x HTTP/1.1\r\nHost: h\r\nX-Pad: "
	pad := size - len(head) - len("\r\n\r\n")
	return head + strings.Repeat("a", pad) + "\r\n\r\n"
}

func send(t *testing.T, addr, raw string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// net/http may answer 431 and close before reading all of a large
	// request, so the write runs beside the read and its error is moot.
	var wg sync.WaitGroup
	wg.Go(func() { io.WriteString(conn, raw) })
	defer wg.Wait()
	defer conn.Close()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply to %d bytes: %v", len(raw), err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHeadTooLargeOff(t *testing.T) {
	r, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(requestOfSize(100000))))
	if HeadTooLarge(r, 0) {
		t.Error("a limit of 0 refused a request")
	}
	if !HeadTooLarge(r, 99999) {
		t.Error("a request one byte over was let through")
	}
}
