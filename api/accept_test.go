package api_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

// idleConn opens a TCP connection from the loopback address from that
// never sends a byte.
func idleConn(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closed c within d, whatever it
// wrote first.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// Connections are counted per address from accept, so peers that connect
// and never finish a request cannot hold more than the limit: the one over
// it is closed at once, long before the 10 s a request head may take, and
// clients from other addresses are served meanwhile.
func TestIdleConnectionsCountFromAccept(t *testing.T) {
	const limit = 3
	n := startNode(t, api.Config{Conns: connLimiter(t, limits.ConnConfig{MaxOpen: limit})}, nil)
	idle := make([]net.Conn, limit)
	for i := range idle {
		idle[i] = idleConn(t, n.addr, "127.0.0.1")
	}
	if !closedWithin(idleConn(t, n.addr, "127.0.0.1"), 3*time.Second) {
		t.Fatal("a connection over the limit is still open after 3 s")
	}
	for i, c := range idle {
		if closedWithin(c, 50*time.Millisecond) {
			t.Fatalf("idle connection %d within the limit was closed", i)
		}
	}
	other := dialer{from: "127.0.0.2"}
	mustConnect(t, n.wsURL, other).subscribe("news")
	fromOther := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: other.netDial}}
	resp, err := fromOther.Get(n.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz from another address: %d", resp.StatusCode)
	}
	idle[0].Close() // gives its slot back
	eventuallyConnects(t, n.wsURL, dialer{from: "127.0.0.1"})
}

// Every accepted connection's slot is given back exactly once, by
// whichever owns it last: net/http for a request, the WebSocket for an
// upgrade (after transport took the socket over), the handler for a
// refused or failed upgrade, the Listener for a refusal at accept.
func TestEveryConnectionGivesItsSlotBackOnce(t *testing.T) {
	for _, tc := range plainAndTLS(t) {
		t.Run(tc.name, func(t *testing.T) {
			files, err := limits.NewOpenFiles(1<<20, 0)
			if err != nil {
				t.Fatal(err)
			}
			conns := connLimiter(t, limits.ConnConfig{MaxOpen: 2})
			n := startNode(t, api.Config{TLS: tc.server, Tokens: hsVerifier(t), Conns: conns, OpenFiles: files}, nil)
			d := dialer{tls: tc.client}
			a := mustConnect(t, n.wsURL+"?token="+hsToken(t, "u", everything), d)
			b := mustConnect(t, n.wsURL+"?token="+hsToken(t, "u", everything), d)
			wantNoRoom(t, n.wsURL, d) // refused at accept
			a.conn.Close()
			b.conn.Close()
			eventuallyAnswered(t, n.wsURL+"?token=bad", d).wantError(t, http.StatusUnauthorized, "unauthorized")
			if tc.server == nil {
				idleConn(t, n.addr, "127.0.0.1").Close()
			}
			waitForCount(t, files, conns)
		})
	}
}

// waitForCount waits until nothing is counted: not one descriptor, not
// one address. A slot given back twice would make the count negative.
func waitForCount(t *testing.T, files *limits.OpenFiles, conns *limits.ConnLimiter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for files.Open() != 0 || conns.Tracked() != 0 {
		if files.Open() < 0 || time.Now().After(deadline) {
			t.Fatalf("%d descriptors and %d addresses counted after every connection closed", files.Open(), conns.Tracked())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a late second release would show now
	if files.Open() != 0 {
		t.Fatalf("%d descriptors counted", files.Open())
	}
}

// Near the open-file limit an upgrade is refused with 503 before the 101,
// never upgraded and then dropped; other requests are still served, and
// upgrades are taken again once descriptors are free.
func TestNearTheOpenFileLimitUpgradesAreRefused(t *testing.T) {
	// The reserve is 64 descriptors: two connections fit, the third
	// would leave only the reserve.
	files, err := limits.NewOpenFiles(64+3, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{OpenFiles: files}, nil)
	a := mustConnect(t, n.wsURL, dialer{})
	mustConnect(t, n.wsURL, dialer{})
	mustRefuse(t, n.wsURL, dialer{}).wantError(t, http.StatusServiceUnavailable, "unavailable")
	// Requests are served; this one's connection closes after it, as
	// a kept-alive one would hold a descriptor.
	once := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := once.Get(n.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz near the limit: %d", resp.StatusCode)
	}
	a.conn.Close()
	c := eventuallyConnects(t, n.wsURL, dialer{})
	c.read() // the welcome
	c.subscribe("news")
}
