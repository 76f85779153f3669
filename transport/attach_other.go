//go:build !linux

package transport

import (
	"net"

	"github.com/herald-broker/herald/broker"
)

// loop has no implementation off Linux: every connection takes the
// portable path.
type loop struct{ done chan struct{} }

func (l *loop) stop(force bool) {}

func (s *Server) startLoops() error { return nil }

func (s *Server) attach(nc net.Conn, early []byte, info broker.ClientInfo) {
	s.attachPortable(nc, early, info)
}
