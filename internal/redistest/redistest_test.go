package redistest

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
)

func TestStartAnswersPingAndStops(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("started server: %v", err)
	}
	if got, want := s.URL(), "redis://"+s.Addr()+"/0"; got != want {
		t.Fatalf("URL() = %q, want %q", got, want)
	}
	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("stopped server still answers PING")
	}
	s.Stop() // a second stop is harmless
}

func TestRestartKeepsPortAndEmptiesData(t *testing.T) {
	s := Start(t)
	addr := s.Addr()
	send(t, addr, "SET k v\r\n")
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if got := send(t, addr, "EXISTS k\r\n"); got != ":0\r\n" {
		t.Fatalf("EXISTS after restart = %q, want :0", got)
	}
}

// ping reports whether addr answers PING with PONG.
func ping(addr string) error {
	r, err := doString(addr, "PING")
	if err == nil && r != "PONG" {
		err = fmt.Errorf("PING answered %q", r)
	}
	return err
}

func send(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestParallelStarts(t *testing.T) {
	for range 3 {
		t.Run("server", func(t *testing.T) {
			t.Parallel()
			if err := ping(Start(t).Addr()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// fatalRecorder keeps a Fatalf message and stops its goroutine, as a real
// Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingServerFailsWithInstallHint(t *testing.T) {
	old := ServerPath
	ServerPath = "/nonexistent/redis-server"
	defer func() { ServerPath = old }()
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); Start(f) }()
	<-done
	if !strings.Contains(f.msg, "install redis-server") {
		t.Fatalf("Start without redis-server failed with %q, want a hint to install it", f.msg)
	}
}
