package api_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// TestREADMECurlStream runs the README's `curl -N` example against a
// node: with curl when it is on PATH, and with a plain HTTP client either
// way, each reading the subscribed event and a message published after.
func TestREADMECurlStream(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^curl -N '(localhost:8080)(/sse\?[^']+)'$`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no curl -N 'localhost:8080/sse?...' example")
	}
	path := string(m[2])
	n := sseNode(t, api.Config{}, nil, 0, 0)

	s := mustOpenSSE(t, n.Base, path)
	topics, _ := s.subscribed(t)
	first := topics[0].Topic
	publishN(t, n.Base, first, 1)
	if msg, _ := s.message(t); msg.Topic != first {
		t.Fatalf("message %+v", msg)
	}

	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Log("no curl on PATH: the example ran with net/http only")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out lockedBuffer
	cmd := exec.CommandContext(ctx, curl, "-sN", n.Addr+path)
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	waitFor(t, &out, "event: subscribed\n")
	publishN(t, n.Base, first, 1)
	waitFor(t, &out, `"seq":2`)
}

// waitFor polls out until it holds want, for a few seconds.
func waitFor(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("curl printed %q, without %q", out.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer that a command writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
