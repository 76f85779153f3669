// Package redistest runs a private redis-server for tests: on a free
// loopback port, without persistence, stopped when the test ends.
package redistest

import (
	"testing"
	"time"
)

// ServerPath is where the redis-server binary is looked for. Set it, if at
// all, before any test starts a server.
var ServerPath = "/usr/bin/redis-server"

// startTimeout bounds how long a started server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one running redis-server owned by a test: a Node on its own,
// whose process handling it shares with the nodes of a Cluster or a
// Sentinel setup.
type Server struct {
	n *Node
}

// Start runs redis-server on a free loopback port and stops it when the test
// ends. A machine without redis-server fails the test: the cluster tests are
// not optional.
func Start(t testing.TB) *Server {
	t.Helper()
	base := t.TempDir() // removed after the server stops: cleanups run last-in first-out
	return &Server{n: startNode(t, "redis-server", base, false,
		func(_ int, dir string) []string { return dataArgs(dir) })}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.n.Addr() }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() { s.n.Kill() }

// Restart stops the server (SIGKILL) and starts it again on the same
// port, as a Redis that crashed and came back without its data, or, when
// the test had it SAVE, with the data of that snapshot.
func (s *Server) Restart() {
	s.n.t.Helper()
	s.n.Restart()
}

// Pause stops the server's process (SIGSTOP) until Resume, as a Redis
// that froze: see Node.Pause.
func (s *Server) Pause() {
	s.n.t.Helper()
	s.n.Pause()
}

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume() {
	s.n.t.Helper()
	s.n.Resume()
}
