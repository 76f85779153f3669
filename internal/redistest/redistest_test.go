package redistest

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
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

// A node restarted as a replica is one from its start, and the next plain
// restart brings it back as it was started at first.
func TestRestartAsReplicaOfReplicatesFromTheStart(t *testing.T) {
	master, node := Start(t), Start(t)
	send(t, master.Addr(), "SET k v\r\n")
	node.n.RestartAsReplicaOf(master.Addr())
	info, err := doString(node.Addr(), "INFO", "replication")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(master.Addr())
	if role, got := infoField(info, "role"), infoField(info, "master_port"); role != "slave" || got != port {
		t.Fatalf("restarted as a replica of %s: role %q, master port %q", master.Addr(), role, got)
	}
	waitFor(t, "the replica's sync", func() error {
		if got, err := doString(node.Addr(), "GET", "k"); err != nil || got != "v" {
			return fmt.Errorf("GET k on the replica = %q, %v", got, err)
		}
		return nil
	})
	node.Restart()
	if role, _ := replication(node.Addr()); role != "master" {
		t.Fatalf("restarted plainly after a restart as a replica: role %q, want master", role)
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

// A connection that sends what Hold matches gets no reply until Release,
// while another connection through the proxy goes on.
func TestProxyHoldsOnlyTheConnectionsThatSendTheMatch(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Addr())
	held, other := dial(t, p.Addr()), dial(t, p.Addr())
	p.Hold("stalled-key")
	write(t, held, "GET stalled-key\r\n")
	for deadline := time.Now().Add(5 * time.Second); p.Held() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections held, want 1", p.Held())
		}
	}
	write(t, other, "PING\r\n")
	if got := read(t, other); got != "+PONG\r\n" {
		t.Fatalf("the other connection got %q while one was held, want +PONG", got)
	}
	if err := held.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := held.Read(make([]byte, 64)); err == nil {
		t.Fatalf("the held connection got %d bytes before Release", n)
	}
	p.Release()
	if err := held.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, held); got != "$-1\r\n" {
		t.Fatalf("the held connection got %q once released, want $-1", got)
	}
}

// A command that a connection sends after HoldSends matched reaches
// Redis only at Release, after what another connection sent meanwhile.
func TestProxyHoldsWhatTheMatchingConnectionSends(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Addr())
	held, other := dial(t, p.Addr()), dial(t, p.Addr())
	p.HoldSends("SET late-key")
	write(t, held, "SET late-key first\r\n")
	for deadline := time.Now().Add(5 * time.Second); p.Held() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections held, want 1", p.Held())
		}
	}
	write(t, other, "APPEND late-key second\r\n")
	if got := read(t, other); got != ":6\r\n" {
		t.Fatalf("the other connection got %q while one was held, want :6 (late-key not set yet)", got)
	}
	p.Release()
	if got := read(t, held); got != "+OK\r\n" {
		t.Fatalf("the held connection got %q once released, want +OK", got)
	}
	write(t, other, "GET late-key\r\n")
	if got := read(t, other); got != "$5\r\nfirst\r\n" {
		t.Fatalf("late-key holds %q, want the held connection's value, set last", got)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, cmd string) {
	t.Helper()
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c net.Conn) string {
	t.Helper()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}
