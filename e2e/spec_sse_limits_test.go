package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/internal/redistest"
)

// Tests of section 10 (Server-Sent Events) of the wire protocol, as for
// spec_sse_test.go: the limits of a stream, and what crossing each does.

func TestSpecSSELimits(t *testing.T) {
	t.Parallel()
	t.Run("429 past the per-address connect rate", func(t *testing.T) {
		n := startProcess(t, "rate", "HERALD_CONNECT_RATE_PER_IP=1", "HERALD_CONNECT_BURST_PER_IP=1")
		for i := range 5 {
			s, resp, body := sseOpen(t, sseURL(n, "topic=a"), nil)
			if s != nil {
				continue
			}
			if resp.StatusCode != 429 || errorCode(body) != "rate_limited" {
				t.Errorf("refusal %d: %d %s, want 429 rate_limited", i, resp.StatusCode, body)
			}
			return
		}
		t.Error("five streams at once from one address with burst 1: none refused")
	})

	t.Run("429 past the per-address connection limit", func(t *testing.T) {
		// The refusal comes at accept, before the request is read: each
		// connection first waits a moment for it, so that a request sent
		// to a socket being closed cannot reset it and lose the answer.
		n := startProcess(t, "conns", "HERALD_MAX_CONNECTIONS_PER_IP=4")
		addr := strings.TrimPrefix(n.base, "http://")
		for i := range 6 {
			c, err := net.DialTimeout("tcp", addr, wait)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			if _, err := r.Peek(1); err != nil {
				c.SetReadDeadline(time.Now().Add(wait))
				fmt.Fprintf(c, "GET /sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			c.SetReadDeadline(time.Now().Add(wait))
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			if resp.StatusCode == 200 {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 429 || errorCode(body) != "rate_limited" {
				t.Errorf("refusal %d: %d %s, want 429 rate_limited", i, resp.StatusCode, body)
			}
			return
		}
		t.Error("six streams from one address with a limit of four: none refused")
	})

	t.Run("a backend's controls reach a stream", func(t *testing.T) {
		n := startProcess(t, "controls", "HERALD_JWT_SECRET="+specSecret)
		tok := specToken(t, jwt.MapClaims{"sub": "42", "allow": map[string][]string{"subscribe": {"a"}}})
		s, resp, body := sseOpen(t, sseURL(n, "topic=a&token="+tok), nil)
		if s == nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		s.next()
		control(t, &n.node, "/api/subscribe", `{"user":"42","topic":"b.x"}`)
		if ev := s.next(); ev.event != "subscribed" || ev.dataObj()["server"] != true || ev.dataObj()["topic"] != "b.x" {
			t.Errorf("after a backend's subscribe: %+v", ev)
		}
		publish(t, &n.node, "b.x", `1`)
		if ev := s.next(); ev.event != "" || ev.dataObj()["topic"] != "b.x" {
			t.Errorf("a message of the backend's subscription: %+v", ev)
		}
		control(t, &n.node, "/api/unsubscribe", `{"user":"42","topic":"b.x"}`)
		if ev := s.next(); ev.event != "unsubscribed" {
			t.Errorf("after a backend's unsubscribe: %+v", ev)
		}
		control(t, &n.node, "/api/disconnect", `{"user":"42"}`)
		if ev := s.untilEnd(); ev.event != "close" || ev.data != `{"code":4004}` {
			t.Errorf("disconnected by the backend: last event %+v, want close 4004", ev)
		}
	})

	t.Run("a slow reader gets close 4000", func(t *testing.T) {
		n := startProcess(t, "slow", "HERALD_MAX_QUEUE_BYTES=65536")
		conn := slowTCP(t, n.base[len("http://"):], 4096)
		fmt.Fprintf(conn, "GET /sse?topic=flood HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(conn)
		status, _ := r.ReadString('\n')
		if !strings.Contains(status, " 200 ") {
			t.Fatalf("status line %q", status)
		}
		data := `"` + strings.Repeat("y", 32<<10) + `"`
		for i := 0; ; i++ {
			if i == 2000 {
				t.Fatal("2000 messages of 32 KiB did not overflow a 64 KiB queue")
			}
			publish(t, &n.node, "flood", data)
			if i%8 == 7 && metricValue(t, n, `herald_connections_closed_total{code="4000",initiator="server"}`) > 0 {
				break
			}
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		rest, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		body := strings.TrimRight(string(rest), "\n")
		if !strings.HasSuffix(body, "event: close\ndata: {\"code\":4000}") {
			tail := body[max(0, len(body)-200):]
			t.Errorf("the stream ends with %q, want event: close with code 4000", tail)
		}
	})

	t.Run("gap event", func(t *testing.T) {
		redis := redistest.Start(t)
		proxy := redistest.StartProxy(t, redis.Addr())
		a := startProcess(t, "gap-a", "HERALD_REDIS_URL=redis://"+proxy.Addr()+"/0", "HERALD_HISTORY_SIZE=10")
		b := startProcess(t, "gap-b", "HERALD_REDIS_URL="+redis.URL(), "HERALD_HISTORY_SIZE=10")
		ws := wsOpen(t, a.ws, dialOpts{})
		ws.cmd("1", `{"type":"subscribe","id":"1","topic":"gap.room"}`)
		s, _, _ := sseOpen(t, sseURL(a, "topic=gap.room"), nil)
		s.next()
		for i := 1; i <= 3; i++ {
			publish(t, &b.node, "gap.room", strconv.Itoa(i))
			ws.next()
			s.next()
		}
		proxy.Cut()
		for i := 4; i <= 30; i++ {
			publish(t, &b.node, "gap.room", strconv.Itoa(i))
		}
		proxy.Restore()
		wsGap := ws.next()
		if wsGap.obj()["type"] != "gap" {
			t.Fatalf("WebSocket got %s, want a gap", wsGap.text)
		}
		ev := s.next()
		if ev.event != "gap" || ev.data != string(wsGap.text) || ev.id == "" {
			t.Errorf("SSE got %+v, want event gap with %s", ev, wsGap.text)
		}
	})
}

// slowTCP connects with a small receive buffer, so a client that does not
// read fills it fast.
func slowTCP(t *testing.T, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: wait, Control: smallRcvBuf(rcvbuf)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// metricValue sums the samples of a counter in /metrics; name may carry
// labels, to pick one sample.
func metricValue(t *testing.T, n *process, name string) float64 {
	t.Helper()
	_, _, body := httpDo(t, http.MethodGet, n.base+"/metrics", nil, "")
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") || (!strings.HasSuffix(name, "}") && strings.HasPrefix(line, name+"{")) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
