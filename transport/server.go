// Package transport carries WebSocket connections: the upgrade, an epoll
// loop per core on Linux (a goroutine per connection elsewhere), RFC 6455
// framing with gobwas/ws, bounded write queues and heartbeats.
package transport

import (
	"context"
	"net/http"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Config are the transport's settings (PROTOCOL.md sections 6 and 7).
type Config struct {
	Loops           int           // event loops; 0: one per core
	MaxMessageBytes int           // a message over twice this closes with 1009
	MaxQueueBytes   int           // queued for one reader before close 4000
	Heartbeat       time.Duration // ping interval; silence for two closes with 4002
	CloseTimeout    time.Duration // a closing socket is closed after this at the latest; 0: 5s
	Logger          *zap.Logger
}

// Acceptor is what the transport needs from the layer above when a
// connection opens; api adapts *broker.Broker to it.
type Acceptor interface {
	Open(c broker.Conn, info broker.ClientInfo) Receiver
}

// Receiver takes what one connection brings.
type Receiver interface {
	// HandleText takes one complete text message; payload is valid only
	// during the call.
	HandleText(payload []byte)
	// Disconnected is called once, when the connection is gone.
	Disconnected()
}

// Server owns every WebSocket connection of the process.
type Server struct {
	cfg      Config
	acceptor Acceptor
}

// New starts the event loops.
func New(cfg Config, a Acceptor) (*Server, error) {
	return &Server{cfg: cfg, acceptor: a}, nil
}

// Upgrade performs the WebSocket handshake on r and hands the connection to
// an event loop. A bad handshake is answered with an HTTP error.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, info broker.ClientInfo) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// Connections returns how many WebSocket connections are open.
func (s *Server) Connections() int { return 0 }

// Shutdown closes every connection with 1001, waits until their close
// frames are written or ctx ends, then stops the loops.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
