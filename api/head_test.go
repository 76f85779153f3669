package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// Every route holds the request line and headers to the documented 16 KiB
// exactly: one byte over is 431 with the JSON error body, where net/http
// alone lets 4 KiB more through.
func TestRequestHeadLimitIsExactOnEveryRoute(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	const limit = api.DefaultMaxHeaderBytes
	for _, route := range []string{"GET /healthz", "GET /api/stats", "POST /api/publish", "GET /ws", "GET /no-such-path"} {
		for _, size := range []int{limit - 1, limit} {
			if r := sendRaw(t, n.addr, headOfSize(route, size)); r.status == http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s with a head of %d bytes: 431 at or under the limit", route, size)
			}
		}
		r := sendRaw(t, n.addr, headOfSize(route, limit+1))
		r.wantError(t, http.StatusRequestHeaderFieldsTooLarge, "request_too_large")
	}
}

// headOfSize is a request for route ("METHOD /path") whose line and
// headers are exactly size bytes, with no body.
func headOfSize(route string, size int) string {
	method, path, _ := strings.Cut(route, " ")
	head := method + " " + path + " HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Pad: "
	return head + strings.Repeat("p", size-len(head)-len("\r\n\r\n")) + "\r\n\r\n"
}

// sendRaw writes raw on a new connection and reads the reply.
func sendRaw(t *testing.T, addr, raw string) reply {
	t.Helper()
	var wg sync.WaitGroup
	defer wg.Wait() // after the close below, which ends a stuck write
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server may answer before it read everything: the write runs
	// beside the read, and its error is moot.
	wg.Go(func() { io.WriteString(conn, raw) })
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply to %d bytes: %v", len(raw), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}
