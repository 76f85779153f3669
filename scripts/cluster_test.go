package scripts

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testport"
)

func TestClusterScriptSyntax(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "cluster.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
}

// waitHealthy runs the script's wait_healthy on its own and returns its
// status.
func waitHealthy(t *testing.T, url string, pid int, timeout int) int {
	t.Helper()
	cmd := exec.Command("bash", "-c", fmt.Sprintf(`source ./cluster.sh; wait_healthy %q %d %d`, url, pid, timeout))
	out, err := cmd.CombinedOutput()
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if !asExit(err, &exit) {
		t.Fatalf("wait_healthy: %v\n%s", err, out)
	}
	return exit.ExitCode()
}

func asExit(err error, exit **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*exit = e
	return ok
}

// sleeper is a live process, ended when the test ends.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func TestWaitHealthy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()

	if got := waitHealthy(t, healthy.URL, sleeper(t), 5); got != 0 {
		t.Errorf("a healthy node: %d, want 0", got)
	}
	start := time.Now()
	if got := waitHealthy(t, sick.URL, sleeper(t), 1); got != 2 {
		t.Errorf("a node that never answers 200: %d, want 2", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 1 s timeout took %v", took)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if got := waitHealthy(t, healthy.URL, dead.Process.Pid, 5); got != 1 {
		t.Errorf("a dead process: %d, want 1", got)
	}
}

// cluster is one run of cluster.sh.
type cluster struct {
	cmd    *exec.Cmd
	logs   string
	stderr *strings.Builder
	ports  []int // the nodes', then Redis's
	pids   map[string]int
	exited chan error
}

var startedLine = regexp.MustCompile(`^(node-\d|redis) .* pid (\d+) `)

// runCluster starts cluster.sh on free ports with a herald built once,
// and returns when it has printed every URL.
func runCluster(t *testing.T, bin string) *cluster {
	t.Helper()
	base, redis := freePorts(t, 3), freePorts(t, 1)
	c := &cluster{logs: t.TempDir(), stderr: &strings.Builder{}, pids: map[string]int{}, exited: make(chan error, 1)}
	c.ports = []int{base, base + 1, base + 2, redis}
	c.cmd = exec.Command("bash", "cluster.sh")
	c.cmd.Env = append(os.Environ(), fmt.Sprintf("BASE_PORT=%d", base), fmt.Sprintf("REDIS_PORT=%d", redis),
		"LOG_DIR="+c.logs, "BINARY="+bin, "HEALTH_TIMEOUT=20")
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		<-c.exited
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				var pid int
				fmt.Sscan(m[2], &pid)
				c.pids[m[1]] = pid
			}
			if strings.HasPrefix(sc.Text(), "Ctrl-C stops") {
				close(ready)
			}
		}
		io.Copy(io.Discard, stdout)
		c.exited <- c.cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-c.exited:
		c.exited <- err
		t.Fatalf("cluster.sh exited before it was ready: %v\n%s", err, c.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("cluster.sh not ready after 60 s\n%s", c.stderr)
	}
	return c
}

// freePorts finds n consecutive free loopback ports, below the kernel's
// ephemeral range so that no other test's client connection takes one
// before cluster.sh binds it.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	offsets := make([]int, n)
	for i := range offsets {
		offsets[i] = i
	}
	p, err := testport.Free(offsets...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wait returns cluster.sh's exit status once it has ended.
func (c *cluster) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err
		if err == nil {
			return 0
		}
		var exit *exec.ExitError
		if !asExit(err, &exit) {
			t.Fatal(err)
		}
		return exit.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("cluster.sh still running\n%s", c.stderr)
		return -1
	}
}

// wantStopped checks that nothing listens on the cluster's ports.
func (c *cluster) wantStopped(t *testing.T) {
	t.Helper()
	for _, p := range c.ports {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d still answers after cluster.sh ended", p)
		}
	}
}

func buildHerald(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"redis-server", "redis-cli", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Every node answers /healthz once its URL is printed; Ctrl-C stops all.
func TestClusterStartsAndStops(t *testing.T) {
	c := runCluster(t, buildHerald(t))
	for _, p := range c.ports[:3] {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("node on %d: /healthz %d", p, resp.StatusCode)
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d after Ctrl-C\n%s", code, c.stderr)
	}
	c.wantStopped(t)
}

// A node that dies is named, with where its log is, and the rest stop.
func TestClusterNamesADeadNode(t *testing.T) {
	c := runCluster(t, buildHerald(t))
	pid, ok := c.pids["node-2"]
	if !ok {
		t.Fatalf("no pid printed for node-2: %v", c.pids)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 1 {
		t.Fatalf("exit %d after a node died, want 1\n%s", code, c.stderr)
	}
	log := filepath.Join(c.logs, "node-2.log")
	for _, want := range []string{"node-2 (pid", "exited with status", "its log: " + log, "logs kept in " + c.logs} {
		if !strings.Contains(c.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, c.stderr)
		}
	}
	if _, err := os.Stat(log); err != nil {
		t.Errorf("the dead node's log: %v", err)
	}
	c.wantStopped(t)
}
