package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/api/limits"
	"go.uber.org/zap"
)

// FuzzUpgradeHandshake writes arbitrary requests, upgrade requests above
// all, byte for byte to a real node that checks tokens, origins, sizes and
// per-address limits. The text TOKEN in an input becomes a valid token.
// Every request is answered with a well-formed status or, when it never
// ends, by the server closing; the node stays up; a refusal of /ws carries
// a JSON error body; and a 101 goes only to a request whose token, read
// as the server reads it, is valid.
func FuzzUpgradeHandshake(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("auth", "testdata", "upgrade", "*.http"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("seed requests: %v (%d found)", err, len(seeds))
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v := hsVerifier(f)
	tok := hsToken(f, "fuzz", everything)
	n := startFuzzNode(f, v)
	f.Fuzz(func(t *testing.T, req []byte) {
		req = bytes.ReplaceAll(req, []byte("TOKEN"), []byte(tok))
		answer := exchange(t, n.addr, req)
		if len(answer) > 0 {
			checkAnswer(t, req, answer, v)
		}
		if r, err := client.Get(n.base + "/healthz"); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("the node is down after %q: %v", req, err)
		} else {
			r.Body.Close()
		}
	})
}

func startFuzzNode(f *testing.F, v *auth.Verifier) *node {
	trusted, err := limits.NewClientIP("127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	conns, err := limits.NewConnLimiter(limits.ConnConfig{MaxOpen: 64})
	if err != nil {
		f.Fatal(err)
	}
	// The fuzz function may not log through f, so the node logs nothing.
	return startNode(f, api.Config{
		Tokens: v, ClientIP: trusted, Conns: conns, MaxHeaderBytes: 4096,
		AllowedOrigins: []string{"https://app.example"}, Logger: zap.NewNop(),
	}, nil)
}

// exchange writes req on a new connection, half-closes it so that a
// request that never ends is seen to end, and returns all the answer.
func exchange(t *testing.T, addr string, req []byte) []byte {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	written := make(chan struct{})
	go func() { // the server may stop reading early: never block the read
		defer close(written)
		conn.Write(req)
		conn.(*net.TCPConn).CloseWrite()
	}()
	answer, err := io.ReadAll(conn)
	conn.Close()
	<-written
	if err != nil && len(answer) == 0 {
		t.Fatalf("%q: no answer: %v", req, err)
	}
	return answer
}

func checkAnswer(t *testing.T, req, answer []byte, v *auth.Verifier) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
	if err != nil {
		t.Fatalf("%q: answer %q is not HTTP: %v", req, answer, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s == http.StatusSwitchingProtocols:
		checkUpgraded(t, req, v)
	case s >= 500 && s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported:
		t.Fatalf("%q: status %d %q", req, s, body)
	case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusTooManyRequests:
		var e struct{ Error struct{ Code string } }
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			t.Fatalf("%q: %d with body %q, want a JSON error", req, s, body)
		}
	}
}

// checkUpgraded fails unless the server read a valid token from req.
func checkUpgraded(t *testing.T, req []byte, v *auth.Verifier) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	if err != nil {
		t.Fatalf("%q was upgraded but does not parse: %v", req, err)
	}
	if _, err := v.Verify(auth.TokenFromRequest(r)); err != nil {
		t.Fatalf("%q was upgraded with a token that is not valid: %v", req, err)
	}
}
