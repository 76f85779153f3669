package main

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// startNode runs herald in this process on a loopback port until the test
// ends and returns its base URL, its log so far (a function, as the log
// grows), and a stop that returns once the whole log has been read.
func startNode(t *testing.T, env map[string]string) (base string, logged func() string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	var mu sync.Mutex
	var log strings.Builder
	addrs := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		scanLog(r, addrs, func(line string) {
			mu.Lock()
			log.WriteString(line + "\n")
			mu.Unlock()
		})
	}()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--addr=127.0.0.1:0"}, environOf(env), io.Discard, w, func() {})
		w.Close()
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-scanned
		})
	}
	t.Cleanup(stop)
	logged = func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	select {
	case addr := <-addrs:
		return "http://" + addr, logged, stop
	case code := <-exited:
		t.Fatalf("herald exited with %d before listening:\n%s", code, logged())
	case <-time.After(20 * time.Second):
		t.Fatalf("herald did not log its address:\n%s", logged())
	}
	return "", nil, nil
}

// closedAtAccept is what upgrade returns for a connection the node closed
// without an answer the client could read: past the per-address limit it
// is refused at accept, and the client may see the close before the 429.
const closedAtAccept = 0

// upgrade asks base for a WebSocket, as from a client behind a proxy when
// forwardedFor is set, and returns the status. A connection it opens stays
// open until the test ends.
func upgrade(t *testing.T, base, forwardedFor string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Logf("upgrade: %v", err)
		return closedAtAccept
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Cleanup(func() { resp.Body.Close() })
	} else {
		resp.Body.Close()
	}
	return resp.StatusCode
}

// The per-address limits hold for every peer, loopback included, from the
// moment a connection is accepted: a local process is limited like a
// remote one, and a header from a peer that is not a trusted proxy changes
// nothing but a warning in the log.
func TestPerAddressLimitsHoldOnLoopback(t *testing.T) {
	base, logged, _ := startNode(t, map[string]string{"HERALD_MAX_CONNECTIONS_PER_IP": "2"})
	for _, client := range []string{"198.51.100.7", "198.51.100.8"} {
		if code := upgrade(t, base, client); code != http.StatusSwitchingProtocols {
			t.Fatalf("X-Forwarded-For %s from an untrusted peer: status %d, want 101", client, code)
		}
	}
	for _, client := range []string{"", "198.51.100.9"} {
		if code := upgrade(t, base, client); code != http.StatusTooManyRequests && code != closedAtAccept {
			t.Fatalf("a third connection from 127.0.0.1 (X-Forwarded-For %q): status %d, want it refused (the peer's budget)", client, code)
		}
	}
	// The log line is written before the reply; reading it back from the
	// pipe may take a moment longer.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logged(), "not in HERALD_TRUSTED_PROXIES"); {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about X-Forwarded-For from an untrusted peer:\n%s", logged())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logged(), "not in HERALD_TRUSTED_PROXIES"); n != 1 {
		t.Errorf("the warning was logged %d times, want once", n)
	}
}

func TestPerAddressLimitsBehindATrustedProxy(t *testing.T) {
	base, _, _ := startNode(t, map[string]string{
		"HERALD_MAX_CONNECTIONS_PER_IP": "1",
		"HERALD_TRUSTED_PROXIES":        "127.0.0.1",
	})
	if code := upgrade(t, base, "198.51.100.7"); code != http.StatusSwitchingProtocols {
		t.Fatalf("first client behind the proxy: status %d, want 101", code)
	}
	if code := upgrade(t, base, "198.51.100.7"); code != http.StatusTooManyRequests {
		t.Fatalf("the same client again: status %d, want 429", code)
	}
	if code := upgrade(t, base, "198.51.100.8"); code != http.StatusSwitchingProtocols {
		t.Fatalf("another client behind the same proxy: status %d, want 101", code)
	}
}

func TestNoForwardingWarningWithoutLimits(t *testing.T) {
	base, logged, stop := startNode(t, map[string]string{
		"HERALD_MAX_CONNECTIONS_PER_IP": "0", "HERALD_CONNECT_RATE_PER_IP": "0", "HERALD_COMMAND_RATE_PER_IP": "0",
		"HERALD_SHUTDOWN_TIMEOUT": "1s", // the clients below never answer the close
	})
	for i := range 3 {
		if code := upgrade(t, base, "198.51.100.7"); code != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d with limits off: status %d, want 101", i+1, code)
		}
	}
	stop() // the whole log is in
	if !strings.Contains(logged(), "herald stopped") {
		t.Fatalf("the log does not end with the stop:\n%s", logged())
	}
	if strings.Contains(logged(), "HERALD_TRUSTED_PROXIES") {
		t.Errorf("warned about forwarding with the per-address limits off:\n%s", logged())
	}
}

// The node counts descriptors against the open-file limit it raised, with
// those already open as in use, so that /ws refuses upgrades near it.
func TestOpenFilesFollowTheLimit(t *testing.T) {
	log := zap.NewNop()
	if openFiles(log, 0) != nil {
		t.Error("descriptors counted against an unknown limit")
	}
	if runtime.GOOS != "linux" {
		t.Skip("open descriptors are counted on Linux only")
	}
	f := openFiles(log, 1<<20)
	if f == nil || f.Open() < 3 || !f.Room() {
		t.Fatalf("under a limit of 1<<20: %+v", f)
	}
	if f := openFiles(log, uint64(f.Open()+32)); f == nil || f.Room() {
		t.Fatal("room for an upgrade with less than the reserve of 64 left")
	}
}
