//go:build !linux

package transport

import (
	"net"
)

// loop has no implementation off Linux: every connection takes the
// portable path.
type loop struct {
	done chan struct{}
	lag  loopLag // never stamped: the portable path is not measured
}

func (l *loop) stop(force bool) {}

func (s *Server) startLoops() error { return nil }

func (s *Server) attach(nc net.Conn, early []byte, o opening) bool {
	if !o.socketBuffersSet {
		s.SetSocketBuffers(nc)
	}
	return s.attachPortable(nc, early, o)
}
