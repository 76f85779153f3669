// Package transport carries WebSocket connections: the upgrade, an epoll
// loop per core on Linux (a goroutine per connection elsewhere), RFC 6455
// framing with gobwas/ws, bounded write queues and heartbeats. SSE
// streams (AttachStream, sse.go) ride the same connections and loops.
//
// Use: srv, err := New(cfg); route GET /ws, after the caller's own token
// and origin checks, to srv.Upgrade(w, r, info, acceptor); on shutdown,
// srv.Shutdown(ctx). The acceptor is given per connection, so the caller
// can wrap each one's Receiver (api gives back a per-address slot when
// the connection ends). Upgrade calls acceptor.Open(conn, info) on the
// request's goroutine before the connection is read; Open may Send (the
// welcome) and Close at once. The http.Server must bound how long a
// request's headers may take (ReadHeaderTimeout): the transport sees a
// connection only once its upgrade request is complete.
//
// Frames given to Conn.Send are complete, already-framed server frames,
// shared by many connections; the transport writes them as they are and
// drops its reference once written.
//
// Closing: a close frame is queued after what is queued; once it is
// written the socket is half-closed, and closed when the client's close
// frame came too (whichever side began) and the socket holds nothing
// the client has not acknowledged, the peer closes its side or
// CloseTimeout has passed, whichever is first. Closing a socket with
// unread input, or before a byte the client sends after, would reset it
// and could lose the client the close frame and what came before it.
//
// Which goroutine calls a Receiver: on the epoll path, HandleText,
// AllowPing and Disconnected run on the connection's event loop, which
// serves many connections, so they must not block (Conn.Send and
// Conn.Close never do).
// On the portable path they run on the connection's own reader goroutine.
// Either way, calls for one connection never overlap, and Disconnected is
// the last.
package transport

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

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
	// AllowPing is asked for each WebSocket ping; false drops the ping
	// unanswered. Pings count toward the connection's command rate
	// (docs/protocol.md section 6, since 1.1). It is part of Receiver, not an
	// optional capability, so that a wrapper that embeds a Receiver
	// passes it on instead of hiding it.
	AllowPing() bool
	// Disconnected is called once, when the connection is gone.
	Disconnected()
}

// Server owns every WebSocket connection of the process.
type Server struct {
	cfg Config
	log *zap.Logger
	lim *limits

	loops    []*loop      // empty when every connection takes the portable path
	open     atomic.Int64 // WebSocket connections
	streams  atomic.Int64 // SSE streams
	stats    *counters
	stopping atomic.Bool
	lagCfg   lagSettings
	gate     lagGate // publishers waiting for this node's delivery
	// othersBehind: the topics that other nodes of the cluster said they
	// are behind delivering (SetOthersBehind); nil: none.
	othersBehind atomic.Pointer[othersHold]
	othersGate   lagGate // publishers waiting for other nodes

	portable *portablePath // the connections not on an epoll loop
}

// New checks cfg and starts the event loops.
func New(cfg Config) (*Server, error) {
	if err := fillDefaults(&cfg); err != nil {
		return nil, err
	}
	stats := new(counters)
	s := &Server{
		cfg:   cfg,
		stats: stats,
		log:   cfg.Logger,
		lim: &limits{
			maxText:      frameLimit(cfg.MaxMessageBytes),
			maxQueue:     cfg.MaxQueueBytes,
			closeTimeout: cfg.CloseTimeout,
			heartbeat:    cfg.Heartbeat,
			fragments:    cfg.FragmentTimeout,
			pace:         newPaceRate(cfg.CommandRate),
			stats:        stats,
		},
		lagCfg: newLagSettings(cfg.MaxDeliveryLag),
	}
	s.portable = newPortablePath(s.lim, s.log, s.gone)
	if err := s.startLoops(); err != nil {
		return nil, err
	}
	return s, nil
}

// Upgrade performs the WebSocket handshake on r and hands the connection to
// an event loop. A bad handshake is answered with an HTTP error (400 with
// the reason for a malformed request). Bytes the client sent after its
// request are kept and read first.
//
// It reports whether the connection was handed over: then a's Open was
// called once, before Upgrade returned, and its Receiver's Disconnected
// will be called once, later. On false neither is called, so a caller
// that reserved something for the connection gives it back.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, info broker.ClientInfo, a Acceptor) bool {
	if s.stopping.Load() {
		http.Error(w, ErrServerClosed.Error(), http.StatusServiceUnavailable)
		return false
	}
	var u ws.HTTPUpgrader
	var deflate *deflateNegotiation
	if !s.cfg.DisableCompression {
		deflate = newDeflateNegotiation()
		u.Negotiate = deflate.negotiate
	}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		s.log.Debug("websocket handshake refused", zap.String("remote", r.RemoteAddr), zap.Error(err))
		if nc != nil {
			_ = nc.Close()
		}
		return false
	}
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ := rw.Reader.Peek(n) // n bytes are buffered: no error
		early = append([]byte(nil), buffered...)
	}
	info.Framing = broker.FramingWebSocket
	if deflate != nil && deflate.accepted() {
		info.Framing = broker.FramingWebSocketDeflate
	}
	return s.attach(nc, early, opening{info: info, acceptor: a, socketBuffersSet: socketBuffersSet(r.Context())})
}

// opening is what a connection being attached is opened with.
type opening struct {
	info     broker.ClientInfo
	acceptor Acceptor
	// stream, for an SSE stream instead of acceptor, and its response
	// head, queued before anything else.
	stream StreamAcceptor
	head   []byte
	// socketBuffersSet: the socket has its send and receive buffers
	// from accept (WithSocketBuffersSet), so attach does not set them
	// again.
	socketBuffersSet bool
}

// opened counts a connection in and asks the layer above for its receiver.
func (s *Server) opened(c *conn, o opening) {
	if o.stream == nil {
		c.deflate = o.info.Framing == broker.FramingWebSocketDeflate
		s.open.Add(1)
		c.received(o.acceptor.Open(c, o.info))
		return
	}
	c.sse = true
	s.streams.Add(1)
	c.queueHead(o.head)
	// The stream queues its subscribed event and resumed history as it
	// opens, before it has its receiver: counted in its address's bound
	// as its frames after are, not outside it.
	if q, ok := o.info.Pacer.(AddressQueuer); ok {
		c.received(openingStream{q})
	}
	c.received(o.stream.OpenStream(c, o.info))
}

// openingStream is the receiver of a stream while it opens, which
// names its address's AddressQueue. Nothing is read from the stream or
// ends it before it has its own.
type openingStream struct{ AddressQueuer }

func (openingStream) HandleText([]byte) {}
func (openingStream) AllowPing() bool   { return false }
func (openingStream) Disconnected()     {}

// received sets c's receiver, under mu: a frame queued from another
// goroutine meanwhile asks it for c's AddressQueue (conn.address).
func (c *conn) received(r Receiver) {
	c.mu.Lock()
	c.recv = r
	c.mu.Unlock()
}

// gone tells c's receiver, once, that c is closed.
func (s *Server) gone(c *conn) {
	c.letReaderGo() // on the reading goroutine, as every caller is
	if first, abrupt := c.finish(); first {
		if abrupt {
			s.stats.closed(true, ws.StatusAbnormalClosure)
		}
		if c.sse {
			s.streams.Add(-1)
		} else {
			s.open.Add(-1)
		}
		disconnected(c.recv, c.closeCode(abrupt))
	}
}

// Connections returns how many WebSocket connections are open.
func (s *Server) Connections() int { return int(s.open.Load()) }

// Streams returns how many SSE streams are open.
func (s *Server) Streams() int { return int(s.streams.Load()) }

// Shutdown closes every connection with 1001, waits until their close
// frames are written or ctx ends, then stops the loops. It returns only
// once every loop and goroutine of the server has stopped. When ctx ended
// first, the connections still closing are dropped and the error wraps
// both ErrCloseUnanswered and ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stopping.Swap(true) {
		return fmt.Errorf("%w: Shutdown called twice", ErrServerClosed)
	}
	for _, l := range s.loops {
		l.stop(false)
	}
	s.portable.stop(false)
	done := make(chan struct{})
	go func() { // owned here: Shutdown waits for it below
		for _, l := range s.loops {
			<-l.done
		}
		s.portable.wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	left := s.open.Load() + s.streams.Load()
	for _, l := range s.loops {
		l.stop(true)
	}
	s.portable.stop(true)
	<-done
	return fmt.Errorf("%w: %d still closing, dropped: %w", ErrCloseUnanswered, left, ctx.Err())
}
