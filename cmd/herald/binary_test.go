package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestBinary builds the real herald, runs it on a loopback port, publishes
// through it, and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	bin := buildHerald(t)
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--node-id", "bin-test")
	cmd.Env = append(os.Environ(), "HERALD_SHUTDOWN_TIMEOUT=10s", "HERALD_LOG_LEVEL=debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	addrs := make(chan string, 1)
	go func() {
		defer close(done)
		scanLog(stderr, addrs, func(line string) { t.Log(line) })
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // fails harmlessly when it has exited
		<-done
	})

	var base string
	select {
	case addr := <-addrs:
		base = "http://" + addr
	case err := <-exited:
		t.Fatalf("herald exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not log its address")
	}
	waitHealthy(t, base)
	checkPublish(t, base)
	checkDashboard(t, base)
	client := dialWelcomed(t, strings.TrimPrefix(base, "http://"))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = wsutil.ReadServerText(client)
	var closed wsutil.ClosedError
	if !errors.As(err, &closed) || closed.Code != ws.StatusGoingAway {
		t.Fatalf("on SIGTERM the client read %v, want close 1001", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("herald exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(10*time.Second + 10*time.Second): // the shutdown timeout, and room for a busy machine
		t.Fatal("herald did not exit within its shutdown timeout")
	}
}

// buildHerald builds the herald binary into a temporary directory with
// the go build flags given, and returns its path.
func buildHerald(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// herald --version prints the version the build was given (make build
// sets it from git describe) and exits 0 without starting anything.
func TestBinaryVersion(t *testing.T) {
	bin := buildHerald(t, "-ldflags", "-X main.version=v1.2.3-4-gabcdef-dirty")
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "HERALD_ADDR=256.0.0.1:0") // would fail a start
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("herald --version: %v\n%s", err, stderr.String())
	}
	if stdout.String() != "herald v1.2.3-4-gabcdef-dirty\n" || stderr.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// scanLog hands each line of herald's log to line and sends the
// listening address to addrs.
func scanLog(r io.Reader, addrs chan<- string, line func(string)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line(sc.Text())
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Msg == "herald listening" {
			addrs <- entry.Addr
		}
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatal("/healthz never answered 200")
}

func checkPublish(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(base+"/api/publish", "application/json", strings.NewReader(`{"topic":"news","data":{"text":"hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Topic string `json:"topic"`
		Seq   uint64 `json:"seq"`
		Msg   string `json:"msg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || reply.Topic != "news" || reply.Seq != 1 || reply.Msg == "" {
		t.Fatalf("publish: status %d, reply %+v", resp.StatusCode, reply)
	}
}

func checkDashboard(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/", "/herald.js"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"herald_messages_published_total 1", "herald_connections ", "go_goroutines "} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET /metrics: %d, no %q in\n%.2000s", resp.StatusCode, want, body)
		}
	}
}

// dialWelcomed opens a WebSocket to addr and reads its welcome.
func dialWelcomed(t *testing.T, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br != nil {
		conn = bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	welcome, err := wsutil.ReadServerText(conn)
	if err != nil || !strings.Contains(string(welcome), `"node":"bin-test"`) {
		t.Fatalf("welcome %s, %v", welcome, err)
	}
	return conn
}

// bufferedConn reads what the handshake left buffered before the socket.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
