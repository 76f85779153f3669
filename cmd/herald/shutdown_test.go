package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A client that never answers the close handshake is dropped when the
// shutdown timeout runs out, and the process still exits 0: the node
// stopped cleanly, only its client did not. The log says so.
func TestBinaryExitsZeroPastAClientThatIgnoresClose(t *testing.T) {
	bin := buildHerald(t)
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--node-id", "bin-test")
	// Under the transport's close timeout (5s), so the drain is cut short.
	cmd.Env = append(os.Environ(), "HERALD_SHUTDOWN_TIMEOUT=1s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrs := make(chan string, 1)
	logged := make(chan string, 1000)
	go func() {
		scanLog(stderr, addrs, func(line string) {
			t.Log(line)
			select {
			case logged <- line:
			default:
			}
		})
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() }) // fails harmlessly when it has exited

	var addr string
	select {
	case addr = <-addrs:
	case err := <-exited:
		t.Fatalf("herald exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not log its address")
	}
	deaf := dialDeaf(t, addr)
	defer deaf.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("herald exited %d after SIGTERM with a client that ignores close, want 0", exit.ExitCode())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not exit")
	}
	close(logged)
	var dropped bool
	for line := range logged {
		dropped = dropped || strings.Contains(line, "did not finish the close")
	}
	if !dropped {
		t.Fatal("the log does not say a client was dropped")
	}
}

// dialDeaf opens a WebSocket to addr by hand and then reads and writes
// nothing more: the server's close frame is never answered, nor is its
// TCP side shut.
func dialDeaf(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("upgrade answered %q, %v", status, err)
	}
	// The welcome: the node has taken the connection over (it counts, and
	// drains, a connection only from then on, after its 101 is sent).
	var seen []byte
	for !strings.Contains(string(seen), `"welcome"`) {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("no welcome after the upgrade (read %q): %v", seen, err)
		}
		seen = append(seen, b)
	}
	return nc
}
