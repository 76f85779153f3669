package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// Bodies are read whole however they are framed, one request after
// another on a kept-alive connection, and a chunked body over the limit
// is refused like one with a Content-Length over it.
func TestPublishBodyFramings(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	c := dialRaw(t, n.addr)
	fixed := `{"topic":"framed","data":1}`
	c.send(t, "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(fixed), fixed)
	c.wantStatus(t, http.StatusOK)
	c.send(t, "POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
		len(fixed[:10]), fixed[:10], len(fixed[10:]), fixed[10:])
	c.wantStatus(t, http.StatusOK)
	c.send(t, "POST /api/batch HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s",
		len(`{"messages":[`+fixed+`]}`), `{"messages":[`+fixed+`]}`)
	c.wantStatus(t, http.StatusOK)
	big := `{"topic":"framed","data":"` + strings.Repeat("x", testMaxMessageBytes+64<<10) + `"}`
	c.send(t, "POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	if resp := c.wantStatus(t, http.StatusRequestEntityTooLarge); !resp.Close {
		t.Fatal("the connection stays open after a body over the limit")
	}
	if h := history(t, n, "framed", ""); len(h.Messages) != 3 {
		t.Fatalf("history holds %d messages, want 3", len(h.Messages))
	}
}

// A body that ends before its Content-Length is a bad request and
// publishes nothing.
func TestPublishBodyCutShort(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	c := dialRaw(t, n.addr)
	c.send(t, "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n%s", `{"topic":"short","data":1}`)
	c.conn.(*net.TCPConn).CloseWrite()
	c.wantStatus(t, http.StatusBadRequest)
	if h := history(t, n, "short", ""); len(h.Messages) != 0 {
		t.Fatalf("history holds %d messages, want none", len(h.Messages))
	}
}

// rawConn is one client connection that writes requests by hand.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawConn) send(t *testing.T, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(c.conn, format, args...); err != nil {
		t.Fatal(err)
	}
}

// wantStatus reads one reply, its body whole, and checks its status.
func (c *rawConn) wantStatus(t *testing.T, status int) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	return resp
}
