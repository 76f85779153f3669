package transport

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/internal/leaktest"
)

// count is how many connections the portable path has.
func (pp *portablePath) count() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return len(pp.conns)
}

func (pp *portablePath) isSweeping() bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.sweeping
}

// The portable path's sweeper runs only while the path has connections:
// never when every connection is on epoll, and not after the last
// portable one left.
func TestPortableSweeperRunsOnlyWithConnections(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		if !portable && runtime.GOOS != "linux" {
			t.Skip("every connection is portable here")
		}
		ts := startServer(t, portable, Config{})
		c := dialRaw(t, ts.addr, frame(ws.OpText, true, []byte("hi")))
		if got := c.text(); got != "hi" {
			t.Fatalf("echo %q", got)
		}
		if got := ts.srv.portable.isSweeping(); got != portable {
			t.Fatalf("sweeper running: %v with one %s connection", got, map[bool]string{true: "portable", false: "epoll"}[portable])
		}
		c.nc.Close()
		eventually(t, "the connection gone", func() bool { return ts.srv.Connections() == 0 })
		eventually(t, "the sweeper stopped", func() bool { return !ts.srv.portable.isSweeping() })
	})
}

// Shutdown leaves none of the server's goroutines running, also when its
// context has already ended (the connections are then dropped at once).
func TestShutdownLeavesNoGoroutine(t *testing.T) {
	for name, ended := range map[string]bool{"in time": false, "context ended": true} {
		t.Run(name, func(t *testing.T) { shutdownLeavesNoGoroutine(t, ended) })
	}
}

func shutdownLeavesNoGoroutine(t *testing.T, ended bool) {
	forEachMode(t, func(t *testing.T, portable bool) {
		check := leaktest.Check(t, "github.com/herald-broker/herald/transport")
		ts := startServer(t, portable, Config{CloseTimeout: 200 * time.Millisecond})
		var clients []*rawClient
		for range 3 {
			c := dialRaw(t, ts.addr, frame(ws.OpText, true, []byte("hi")))
			if got := c.text(); got != "hi" {
				t.Fatalf("echo %q", got)
			}
			clients = append(clients, c) // they never answer the close
		}
		ctx, cancel := context.WithCancel(t.Context())
		if ended {
			cancel()
		}
		defer cancel()
		err := ts.srv.Shutdown(ctx)
		if ended && !errors.Is(err, context.Canceled) || !ended && err != nil {
			t.Fatalf("Shutdown (context ended %v): %v", ended, err)
		}
		check()
		if n := len(ts.acc.all()); n != len(clients) {
			t.Fatalf("%d sessions opened, want %d", n, len(clients))
		}
		for _, s := range ts.acc.all() {
			if n := s.disconnected.Load(); n != 1 {
				t.Errorf("Disconnected called %d times", n)
			}
		}
	})
}
