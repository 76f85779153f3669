package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testcert"
)

// halfRefusingServer completes the TLS handshake of every other
// connection it accepts and closes the rest at once, as a node past its
// accept pace does, until the test ends.
func halfRefusingServer(t *testing.T) string {
	t.Helper()
	files := testcert.Write(t)
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if i%2 == 1 {
				c.Close()
				continue
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = tls.Server(c, cfg).Handshake()
			})
		}
	})
	return l.Addr().String()
}

func TestRunHandshakesCountsDoneAndRefused(t *testing.T) {
	addr := halfRefusingServer(t)
	cfg := HandshakeConfig{Addr: addr, From: "127.0.0.1", Parallel: 2, Duration: 500 * time.Millisecond,
		ServerPID: os.Getpid(), OpTimeout: 5 * time.Second}
	r, err := RunHandshakes(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed == 0 || r.Failed == 0 {
		t.Fatalf("completed %d, failed %d: want both, every other connection is refused", r.Completed, r.Failed)
	}
	for kind := range r.Errors {
		if !strings.HasPrefix(kind, "handshake:") {
			t.Errorf("a refused connection counted as %q, want a failed handshake", kind)
		}
	}
	if r.ServerCPUSeconds <= 0 || r.CPUPerCompletedMicros <= 0 {
		t.Errorf("no server CPU measured: %+v", r)
	}

	cfg.Plain, cfg.ServerPID = true, 0
	if r, err = RunHandshakes(context.Background(), cfg); err != nil || r.Completed == 0 || r.Failed != 0 {
		t.Fatalf("plain connections: %+v, %v", r, err)
	}
}

func TestParseHandshakeArgsTakesLoopbackOnly(t *testing.T) {
	cfg, err := ParseHandshakeArgs([]string{"--addr", "127.0.0.1:8443", "--from", "127.0.0.3", "--plain"}, &bytes.Buffer{})
	if err != nil || cfg.Addr != "127.0.0.1:8443" || cfg.From != "127.0.0.3" || !cfg.Plain || cfg.Parallel != 8 {
		t.Fatalf("%+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"--addr", "192.0.2.1:443"}, {"--from", "192.0.2.1"}, {"--addr", "nohost"}, {"--parallel", "0"}} {
		if _, err := ParseHandshakeArgs(args, &bytes.Buffer{}); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
