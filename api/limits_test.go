package api_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

func TestForeignOriginIsRefused(t *testing.T) {
	n := startNode(t, api.Config{AllowedOrigins: []string{"https://app.example"}}, nil)
	mustRefuse(t, n.wsURL, dialer{header: http.Header{"Origin": {"https://evil.example"}}}).wantError(t, http.StatusForbidden, "forbidden")
	mustConnect(t, n.wsURL, dialer{header: http.Header{"Origin": {"https://app.example"}}})
	mustConnect(t, n.wsURL, dialer{}) // no Origin: not a browser
}

// connLimiter limits every address with cfg and a clock that stands
// still, so no bucket refills during a test.
func connLimiter(t *testing.T, cfg limits.ConnConfig) *limits.ConnLimiter {
	t.Helper()
	start := time.Now()
	cfg.Now = func() time.Time { return start }
	l, err := limits.NewConnLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wantRateLimited checks a 429 refusal as /ws answers it.
func wantRateLimited(t *testing.T, r reply) {
	t.Helper()
	r.wantError(t, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
}

// eventuallyConnects dials until the server takes the connection, as a
// client does after a 429, until a deadline.
func eventuallyConnects(t *testing.T, url string, d dialer) *wsClient {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialURL(t, url, d)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantNoRoom dials url and checks that the node refused the connection
// for its address's limits. Past MaxOpen the refusal comes at accept: the
// 429 is written before the request is read and the socket closed, so
// the client may see the close (a reset) before the answer.
func wantNoRoom(t *testing.T, url string, d dialer) {
	t.Helper()
	c, err := dialURL(t, url, d)
	if c != nil {
		t.Fatalf("%s: connected, want a refusal for the address's limits", url)
	}
	var r *refused
	if errors.As(err, &r) {
		wantRateLimited(t, r.reply)
	}
}

// eventuallyAnswered dials url until the node answers with an HTTP
// refusal other than the accept-time 429, which comes while the previous
// connection's slot is not back yet (the node has not yet seen it close).
func eventuallyAnswered(t *testing.T, url string, d dialer) reply {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := dialURL(t, url, d)
		var r *refused
		if errors.As(err, &r) && r.status != http.StatusTooManyRequests {
			return r.reply
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", url, err)
		}
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	n := startNode(t, api.Config{Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 2})}, nil)
	a := mustConnect(t, n.wsURL, dialer{})
	mustConnect(t, n.wsURL, dialer{})
	wantNoRoom(t, n.wsURL, dialer{})
	a.conn.Close()
	c := eventuallyConnects(t, n.wsURL, dialer{})
	if w := c.read(); !strings.Contains(string(w), "welcome") {
		t.Fatalf("no welcome: %s", w)
	}
	wantNoRoom(t, n.wsURL, dialer{})
}

// A request refused after it took a slot, for its token or for a broken
// handshake, gives the slot back: its connection is closed after the
// answer.
func TestRefusedUpgradeGivesItsSlotBack(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t), Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 1})}, nil)
	for range 3 {
		eventuallyAnswered(t, n.wsURL+"?token=bad", dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	// No upgrade headers: transport refuses the handshake after the hijack.
	// Until the refused connections' slots are back, a new one may be
	// refused at accept: a 429, or only the close when the answer is lost.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := client.Get(n.base + "/ws?token=" + hsToken(t, "u", nil))
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if status == http.StatusBadRequest {
			break
		}
		if (status != 0 && status != http.StatusTooManyRequests) || time.Now().After(deadline) {
			t.Fatalf("a GET without upgrade headers: %d %v", status, err)
		}
	}
	c := eventuallyConnects(t, n.wsURL+"?token="+hsToken(t, "u", nil), dialer{})
	if w := c.read(); !strings.Contains(string(w), "welcome") {
		t.Fatalf("no welcome: %s", w)
	}
	wantNoRoom(t, n.wsURL+"?token="+hsToken(t, "u", nil), dialer{})
}

func TestConnectRatePerIP(t *testing.T) {
	n := startNode(t, api.Config{Conns: connLimiter(t, limits.ConnConfig{Rate: 1, Burst: 3})}, nil)
	for range 3 {
		mustConnect(t, n.wsURL, dialer{}).conn.Close()
	}
	wantRateLimited(t, mustRefuse(t, n.wsURL, dialer{}))
}

// forwarded sends X-Forwarded-For: ip.
func forwarded(ip string) dialer {
	return dialer{header: http.Header{"X-Forwarded-For": {ip}}}
}

func TestTrustedProxyForwardsTheClientIP(t *testing.T) {
	trusted, err := limits.NewClientIP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{ClientIP: trusted, Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 1})}, nil)
	mustConnect(t, n.wsURL, forwarded("192.0.2.1"))
	wantRateLimited(t, mustRefuse(t, n.wsURL, forwarded("192.0.2.1")))
	wantRateLimited(t, mustRefuse(t, n.wsURL, forwarded("198.51.100.9, 192.0.2.1")))
	mustConnect(t, n.wsURL, forwarded("192.0.2.2"))
	mustConnect(t, n.wsURL, dialer{}) // the proxy itself
}

func TestUntrustedPeersForwardedForIsIgnored(t *testing.T) {
	other, err := limits.NewClientIP("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{ClientIP: other, Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 1})}, nil)
	mustConnect(t, n.wsURL, forwarded("192.0.2.1"))
	wantNoRoom(t, n.wsURL, forwarded("192.0.2.2"))
}

// The loopback-only rule of /api/* reads the peer, never a header, even a
// trusted proxy's.
func TestForwardedForDoesNotOpenTheAPI(t *testing.T) {
	trusted, err := limits.NewClientIP("192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{ClientIP: trusted}, nil)
	h := n.srv.Handler()
	for _, path := range []string{"/api/stats", "/api/topics"} {
		recorded(serveFrom(h, "192.0.2.1:4000", "GET", path, "", "X-Forwarded-For", "127.0.0.1")).wantError(t, http.StatusForbidden, "forbidden")
	}
	recorded(serveFrom(h, "198.51.100.1:4000", "POST", "/api/publish", `{"topic":"a","data":1}`, "X-Forwarded-For", "::1")).wantError(t, http.StatusForbidden, "forbidden")
}

func TestOversizeUpgradeRequestIs431(t *testing.T) {
	n := startNode(t, api.Config{MaxHeaderBytes: 2048}, nil)
	pad := dialer{header: http.Header{"X-Pad": {strings.Repeat("p", 2100)}}}
	r := mustRefuse(t, n.wsURL, pad)
	if msg := r.wantError(t, http.StatusRequestHeaderFieldsTooLarge, "request_too_large"); msg == "" {
		t.Fatal("no message")
	}
	mustConnect(t, n.wsURL, dialer{header: http.Header{"X-Pad": {strings.Repeat("p", 1500)}}})

	// Far over the limit, net/http stops reading and answers 431 itself.
	conn, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 64<<10) + "\r\n\r\n"
	written := make(chan struct{})
	go func() { // the server may stop reading: the write must not hold up the read
		defer close(written)
		conn.Write([]byte(req))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	conn.Close()
	<-written
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
