package api_test

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"go.uber.org/zap"
)

// Clients that refuse the node's certificate (here one they do not
// trust, as they refuse an expired one) are heard of at warn: the first
// failed handshake of each reason is a warning, the rest refusals at
// info, so a flood of three reasons (a refused certificate, plain HTTP, a
// close before a byte) writes three warnings, where before every line was
// at info and a node at HERALD_LOG_LEVEL=warn wrote none.
func TestFailedTLSHandshakesWarnOncePerReason(t *testing.T) {
	const flood, reasons = 30, 3
	serverTLS, _ := selfSignedTLS(t)
	logger, logs := observed()
	n := startNode(t, api.Config{TLS: serverTLS, Logger: logger}, nil)
	for i := range flood {
		switch i % reasons {
		case 0:
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.addr, &tls.Config{})
			if err == nil {
				c.Close()
				t.Fatal("a client that does not trust the node's certificate finished its handshake")
			}
		case 1:
			plainHTTPOnTLS(t, n.addr)
		case 2:
			c, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
	}
	handshakeLines := func() (warnings, infos int) {
		for _, e := range logs.All() {
			if reason := e.ContextMap()["reason"]; reason == nil || e.LoggerName != "http" && e.LoggerName != "refusals" {
				continue
			}
			if e.Level >= zap.WarnLevel {
				warnings++
			} else {
				infos++
			}
		}
		return warnings, infos
	}
	// The node logs each failure after it closed the connection.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if w, i := handshakeLines(); w+i >= flood {
			break
		}
		if time.Now().After(deadline) {
			w, i := handshakeLines()
			t.Fatalf("%d of %d failed handshakes logged (%d warnings)", w+i, flood, w)
		}
	}
	if w, i := handshakeLines(); w != reasons {
		t.Errorf("%d failed handshakes of %d reasons wrote %d warnings and %d lines at info, want %d warnings",
			flood, reasons, w, i, reasons)
	}
	for _, e := range logs.FilterLevelExact(zap.WarnLevel).All() {
		t.Logf("%s: %s %v", e.LoggerName, e.Message, e.ContextMap())
	}
}

// plainHTTPOnTLS sends a plain HTTP request to the TLS port at addr and
// reads the node's answer to its end.
func plainHTTPOnTLS(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if answer, err := io.ReadAll(c); err != nil || !strings.Contains(string(answer), "400 Bad Request") {
		t.Fatalf("plain HTTP on the TLS port: %q, %v", answer, err)
	}
}
