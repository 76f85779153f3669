package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testcert"
)

// A client that opens TLS connections and fails their handshakes (it
// speaks plain HTTP, or closes at once) costs the node's log no more than
// any other refusal: net/http writes one line for each, which, logged as a
// warning, let one address write 100 lines a second for good (the
// connections it may open a second under TLS).
func TestRunLimitsFailedTLSHandshakes(t *testing.T) {
	files := testcert.Write(t)
	base, logged, stop := startNode(t, map[string]string{
		"HERALD_TLS_CERT": files.Cert,
		"HERALD_TLS_KEY":  files.Key,
	})
	addr := strings.TrimPrefix(base, "http://")
	const flood = 3 * refusalBurst
	for i := range flood {
		failHandshake(t, addr, i%2 == 0)
	}
	handshakeLines := func() int { return strings.Count(logged(), "TLS handshake") }
	// The node logs each failure after it closed the connection.
	deadline := time.Now().Add(10 * time.Second)
	for handshakeLines() < refusalBurst && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // lines past the burst, were they written
	stop()
	out := logged()
	lines := strings.Count(out, `"msg":"refused: TLS handshake"`)
	if warned := strings.Count(out, "TLS handshake error"); warned > 0 {
		t.Fatalf("%d failed handshakes of %d logged as net/http's lines:\n%s", warned, flood, out)
	}
	// A token may come back during the flood on a slow machine.
	if lines < refusalBurst || lines > refusalBurst+2 {
		t.Fatalf("%d refusal lines for %d failed handshakes, want about %d:\n%s", lines, flood, refusalBurst, out)
	}
	if !strings.Contains(out, `"kind":"refused: TLS handshake"`) {
		t.Fatalf("no count of the suppressed failed handshakes:\n%s", out)
	}
}

// failHandshake opens a connection to addr and fails its TLS handshake:
// it sends a plain HTTP request and reads the node's answer to its end,
// or, when closeAtOnce, closes the connection without a byte.
func failHandshake(t *testing.T, addr string, closeAtOnce bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if closeAtOnce {
		return
	}
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c)
	if err != nil || !strings.Contains(string(answer), "400 Bad Request") {
		t.Fatalf("plain HTTP on the TLS port: %q, %v", answer, err)
	}
}
