package api_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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
	waitForHandshakeLines(t, logs, flood)
	if w, i := handshakeLines(logs); w != reasons {
		t.Errorf("%d failed handshakes of %d reasons wrote %d warnings and %d lines at info, want %d warnings",
			flood, reasons, w, i, reasons)
	}
	for _, e := range logs.FilterLevelExact(zap.WarnLevel).All() {
		t.Logf("%s: %s %v", e.LoggerName, e.Message, e.ContextMap())
	}
}

// A client's own words in its handshake (here the application protocols
// it offers, any text) make one reason, whatever it offers: 40 handshakes
// each offering another protocol are one warning, and a client refusing
// the node's certificate after them is a warning too. Each protocol a
// reason of its own, the first 32 filled the hour's table of reasons, and
// the certificate's refusal was a line at info.
func TestAClientsOwnHandshakeWordsLeaveRoomForTheCertificatesWarning(t *testing.T) {
	const offers = 40
	serverTLS, _ := selfSignedTLS(t)
	logger, logs := observed()
	n := startNode(t, api.Config{TLS: serverTLS, Logger: logger}, nil)
	for i := range offers {
		protocol := fmt.Sprintf("x-%c%c", 'a'+i%26, 'a'+i/26)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.addr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol}})
		if err == nil {
			c.Close()
			t.Fatalf("a client offering only %q finished its handshake", protocol)
		}
	}
	waitForHandshakeLines(t, logs, offers)
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.addr, &tls.Config{}); err == nil {
		c.Close()
		t.Fatal("a client that does not trust the node's certificate finished its handshake")
	}
	waitForHandshakeLines(t, logs, offers+1)
	if w, i := handshakeLines(logs); w != 2 {
		t.Errorf("%d handshakes offering as many protocols and one refusing the certificate wrote %d warnings "+
			"and %d lines at info, want 2 warnings", offers, w, i)
	}
	for _, e := range logs.FilterLevelExact(zap.WarnLevel).All() {
		t.Logf("%s: %s %v", e.LoggerName, e.Message, e.ContextMap())
	}
}

// handshakeLines counts the failed handshakes logs holds, as warnings
// and as lines at info.
func handshakeLines(logs *observer.ObservedLogs) (warnings, infos int) {
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

// waitForHandshakeLines waits until logs holds n failed handshakes: the
// node logs each after it closed the connection.
func waitForHandshakeLines(t *testing.T, logs *observer.ObservedLogs, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if w, i := handshakeLines(logs); w+i >= n {
			return
		}
		if time.Now().After(deadline) {
			w, i := handshakeLines(logs)
			t.Fatalf("%d of %d failed handshakes logged (%d warnings)", w+i, n, w)
		}
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
