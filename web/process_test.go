package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testport"
)

// readyTimeout bounds how long a started node may take to answer /readyz.
const readyTimeout = 15 * time.Second

// buildHerald builds cmd/herald into the test's temp dir and returns the
// binary's path: the tests run what users run.
func buildHerald(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/herald-broker/herald/cmd/herald")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herald: %v\n%s", err, out)
	}
	return bin
}

// heraldProcess is one running herald binary, killed when the test ends.
type heraldProcess struct {
	t    *testing.T
	name string
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd

	once   sync.Once
	exited chan struct{} // closed when cmd has been waited for
	err    error         // what Wait said, once exited is closed
}

// startHerald runs bin on a free loopback port with the given HERALD_
// settings (besides HERALD_ADDR) and waits until it is ready. Its log goes
// to t.Log.
func startHerald(t *testing.T, bin, name string, env ...string) *heraldProcess {
	t.Helper()
	var lastErr error
	for range 3 { // a free port can be taken by someone else before the node binds it
		p, err := tryStartHerald(t, bin, name, env)
		if err == nil {
			return p
		}
		lastErr = err
	}
	t.Fatalf("starting %s: %v", name, lastErr)
	return nil
}

func tryStartHerald(t *testing.T, bin, name string, env []string) (*heraldProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HERALD_ADDR="+addr, "HERALD_LOG_FORMAT=console")
	cmd.Env = append(cmd.Env, env...)
	logs := &testLog{t: t, prefix: name + ": "}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &heraldProcess{t: t, name: name, base: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
	go func() { // owned by p: kill ends it, and kill waits for it
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	if err := p.waitReady(); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// waitReady polls /readyz until it answers 200, the process exits or the
// time is up.
func (p *heraldProcess) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/readyz", nil)
		if err != nil {
			return err
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s/readyz: %w", p.name, p.base, ctx.Err())
		case <-tick.C:
		}
	}
}

// kill sends SIGKILL, as a crashing machine would, and waits for the
// process to be gone. Killing it again does nothing.
func (p *heraldProcess) kill() {
	p.once.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.t.Errorf("killing %s: %v", p.name, err)
		}
		<-p.exited
	})
}

// freeAddr finds a loopback address nobody listens on at the moment, one
// the kernel does not hand to outgoing connections (see testport).
func freeAddr() (string, error) {
	addr, err := testport.Addr()
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// testLog writes a process's output to t.Log, a line at a time.
type testLog struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.t.Log(l.prefix + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
