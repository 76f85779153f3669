package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testport"
)

// busOffset is how far above its port a Redis Cluster node listens for the
// other nodes (the cluster bus); the offset is fixed by Redis.
const busOffset = 10000

// Node is one redis-server process: a Server, or one of a Cluster or a
// Sentinel setup. It keeps its port and its directory across Kill and
// Restart, so the processes that knew it find it again, as after a crash of
// a real host.
type Node struct {
	t    testing.TB
	name string // prefix of its log lines
	path string
	port int
	args []string // everything but --port

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited and its output is logged
	paused bool          // stopped by Pause: it answers nothing
}

// argsFunc gives a node's arguments (without --port) for a port and the
// empty directory made for it.
type argsFunc func(port int, dir string) []string

// startNode runs redis-server on a free loopback port (with bus, port+10000
// is free too), in its own directory under base, and stops it when the test
// ends. A port taken by someone else between our check and the server's
// bind is retried with another.
func startNode(t testing.TB, name, base string, bus bool, argsFor argsFunc) *Node {
	t.Helper()
	path, err := exec.LookPath(ServerPath)
	if err != nil {
		t.Fatalf("redistest: %s not found (%v): install redis-server (apt-get install -y redis-server)", ServerPath, err)
	}
	var lastErr error
	for range 5 {
		port, err := freeNodePort(bus)
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		dir := filepath.Join(base, strconv.Itoa(port))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n := &Node{t: t, name: name, path: path, port: port, args: argsFor(port, dir)}
		if lastErr = n.start(); lastErr == nil {
			t.Cleanup(n.Kill)
			return n
		}
	}
	t.Fatalf("redistest: start %s: %v", name, lastErr)
	return nil
}

// Addr is the node's host:port.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// Running reports whether the process runs (it was not killed).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
// Killing a killed node does nothing.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	killProcess(n.cmd.Process)
	<-n.done
	n.cmd, n.paused = nil, false
}

// Pause stops the process (SIGSTOP) until Resume, as a master stuck in a
// long command or a host that froze: connections stay open and new ones
// are accepted by the kernel, but nothing is answered, so every call
// times out. In a Cluster the other nodes mark it failing after the
// cluster-node-timeout. Resume it, or Kill: a paused process dies all
// the same.
func (n *Node) Pause() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		n.t.Fatalf("redistest: pause %s: not running", n.name)
	}
	if err := stopProcess(n.cmd.Process, true); err != nil {
		n.t.Fatalf("redistest: pause %s: %v", n.name, err)
	}
	n.paused = true
}

// Resume lets a paused process run again (SIGCONT).
func (n *Node) Resume() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	if err := stopProcess(n.cmd.Process, false); err != nil {
		n.t.Fatalf("redistest: resume %s: %v", n.name, err)
	}
	n.paused = false
}

// answering reports whether the process runs and is not paused.
func (n *Node) answering() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !n.paused
}

// Restart kills the node if it runs and starts it again on the same port
// with the same files. Nothing is persisted by itself, so it comes back
// without its data (a cluster node keeps its identity in its nodes.conf),
// unless a SAVE left a snapshot in its directory, which it loads.
func (n *Node) Restart() {
	n.t.Helper()
	n.restart()
}

// RestartAsReplicaOf is Restart with the node started as a replica of
// master (host:port) this once, as a server the sentinels already made a
// replica comes back after a crash. A master of a Sentinel setup brought
// back by Restart is a master of its own until the sentinels make it a
// replica, 8 s after they see it, and each sentinel counts it in sync
// only on its next INFO of it, up to 10 s after that: WaitSynced took
// 20 s then, and is done on the sentinels' first INFO of a node started
// as a replica.
func (n *Node) RestartAsReplicaOf(master string) {
	n.t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		n.t.Fatalf("redistest: restart %s as a replica of %q: %v", n.name, master, err)
	}
	n.restart("--replicaof", host, port)
}

// restart is Restart with extra arguments for this start only.
func (n *Node) restart(extra ...string) {
	n.t.Helper()
	n.Kill()
	var err error
	for range 50 { // the port may linger a moment after the old process exits
		if err = n.start(extra...); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("redistest: restart %s on %s: %v", n.name, n.Addr(), err)
}

func (n *Node) start(extra ...string) error {
	cmd := exec.Command(n.path, slices.Concat(n.args, extra, []string{"--port", strconv.Itoa(n.port)})...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go n.copyLog(out, done, cmd) // ends when the process exits; Kill waits for it
	if err := waitOwnPing(n.Addr(), cmd.Process.Pid, done); err != nil {
		killProcess(cmd.Process)
		<-done
		return err
	}
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	return nil
}

// copyLog sends the process's output to the test log, then reaps it.
func (n *Node) copyLog(out io.Reader, done chan struct{}, cmd *exec.Cmd) {
	defer close(done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		logLine(n.t, n.name+" "+n.Addr()+": "+sc.Text())
	}
	_ = cmd.Wait()
}

// logLine logs a line of a server or of redis-cli, but not to a benchmark:
// a benchmark's log is printed whether it fails or not, cut to its first
// ten lines, which a server's start alone would fill, and the benchmark's
// own lines would not be seen.
func logLine(t testing.TB, line string) {
	if _, bench := t.(*testing.B); !bench {
		t.Log(line)
	}
}

// waitOwnPing returns once addr is served by process pid. Asking for the
// pid, not just a PONG, tells our server from another one that took the
// port first, while ours is about to exit for want of it.
func waitOwnPing(addr string, pid int, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	want := strconv.Itoa(pid)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start", addr)
		default:
		}
		if info, err := doString(addr, "INFO", "server"); err == nil {
			if got := infoField(info, "process_id"); got != want {
				return fmt.Errorf("%s is served by process %s, not ours (%s)", addr, got, want)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer within %v", addr, startTimeout)
}

// freeNodePort returns a free loopback port below the kernel's ephemeral
// range (see testport); with bus, one whose cluster bus port
// (port+busOffset) is free too. A killed node restarts on its port, so
// the port must not be one the kernel may give an outgoing connection
// meanwhile.
func freeNodePort(bus bool) (int, error) {
	if bus {
		return testport.Free(busOffset)
	}
	return testport.Free()
}
