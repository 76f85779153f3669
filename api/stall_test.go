package api_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// stalledRequestDeadline is the ReadHeaderTimeout of the tests that wait
// for it to close a stalled connection, shorter than the default 10 s so
// that they wait less, and long enough for a loaded machine to finish the
// good clients' handshakes and upgrades well within it.
const stalledRequestDeadline = 3 * time.Second

// Peers that send half an upgrade request and stall are closed once the
// request has had its time (ReadHeaderTimeout), and meanwhile the node
// serves everyone else. The test waits that time, so it runs beside the
// others.
func TestStalledUpgradeRequestsAreClosed(t *testing.T) {
	t.Parallel()
	n := startNode(t, api.Config{ReadHeaderTimeout: stalledRequestDeadline}, nil)
	const stalled = 50
	conns := make([]net.Conn, stalled)
	for i := range conns {
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: herald\r\nUpgrade: websocket\r\nConnection: Up"); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}

	a, b := mustDial(t, n), mustDial(t, n)
	b.subscribe("stall")
	a.send(`{"type":"publish","id":"p","topic":"stall","data":1}`)
	if got := b.read(); len(got) == 0 {
		t.Fatal("no delivery while upgrade requests stall")
	}

	for i, c := range conns {
		// Read until the server closes: whatever it says first, if
		// anything, the connection must end, well past the deadline and
		// short of the read timeout, 30 s, which would close it too late.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled upgrade request %d still open after 20 s", i)
		}
	}
}
