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

// Bodies of the usual shape that cannot be published are answered as
// encoding/json and the broker's checks always answered them.
func TestPublishRefusalsKeepTheirWording(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	cases := []struct{ path, body, code, message string }{
		{"/api/publish", `{"topic":"a","data":[1,,2]}`, "bad_request", "the body is not the JSON expected: invalid character ',' looking for beginning of value"},
		{"/api/publish", `{"topic":"a..b","data":[1,,2]}`, "bad_request", "the body is not the JSON expected: invalid character ',' looking for beginning of value"},
		{"/api/publish", `{"topic":"a","data":` + deep + `}`, "bad_request", "the body is not the JSON expected: invalid character '[' exceeded max depth"},
		{"/api/publish", `{"topic":"a..b","data":1}`, "invalid_topic", `"a..b" is not a valid topic`},
		{"/api/publish", `{"topic":"a"}`, "bad_request", "data is missing"},
		{"/api/publish", `{"data":1}`, "bad_request", "topic is required"},
		{"/api/batch", `{"messages":[{"topic":"a","data":1},{"topic":"b"}]}`, "bad_request", "messages[1]: data is missing"},
		{"/api/batch", `{"messages":[{"topic":"a","data":1},{"data":2}]}`, "bad_request", "messages[1]: topic is required"},
		{"/api/batch", `{"messages":[{"topic":"a","data":1},{"topic":"b","data":tru}]}`, "bad_request", "the body is not the JSON expected: invalid character '}' in literal true (expecting 'e')"},
		{"/api/batch", `{"messages":[]}`, "bad_request", "messages is required: a non-empty array of messages"},
		{"/api/broadcast", `{"topics":["a","b.."],"data":1}`, "invalid_topic", `topics[1]: "b.." is not a valid topic`},
		{"/api/broadcast", `{"topics":["a","b"]}`, "bad_request", "topics[0]: data is missing"},
	}
	for _, c := range cases {
		if got := n.post(t, c.path, c.body).wantError(t, http.StatusBadRequest, c.code); got != c.message && !strings.HasPrefix(got, c.message) {
			t.Errorf("%s %.60s: %q, want %q", c.path, c.body, got, c.message)
		}
	}
	for _, topic := range []string{"a", "b"} {
		if h := history(t, n, topic, ""); len(h.Messages) != 0 {
			t.Fatalf("a refused request published %d messages to %s", len(h.Messages), topic)
		}
	}
}
