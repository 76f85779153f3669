package transport

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"go.uber.org/zap"
)

// DefaultSendBufferBytes is the SO_SNDBUF a node sets on each socket it
// accepts, and on each WebSocket and SSE socket it takes over that was
// not set at accept (HERALD_SOCKET_SEND_BUFFER_BYTES). Left to the
// kernel's autotuning, a socket whose client reads nothing grows to
// net.ipv4.tcp_wmem's maximum (4 MiB by default), held by the kernel for
// as long as the connection lives, outside every bound of the node's own
// (BENCHMARKS.md, "Hardening"). The kernel doubles the value for its
// overhead and stops autotuning the socket.
const DefaultSendBufferBytes = 256 << 10

// SetSendBuffer sets SO_SNDBUF on nc's socket to Config.SendBufferBytes,
// through TLS and any wrapper that gives its syscall.RawConn, when that is
// set. A socket it cannot reach (a pipe in tests) is left as it is. The
// api sets it on every connection it accepts, before a byte is written,
// so that a plain HTTP answer's socket is bounded as a WebSocket's is.
func (s *Server) SetSendBuffer(nc net.Conn) {
	if s.cfg.SendBufferBytes <= 0 {
		return
	}
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = t.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	if err := setSocketSendBuffer(sc, s.cfg.SendBufferBytes); err != nil {
		s.log.Debug("set socket send buffer", zap.Error(err))
	}
}

// sendBufferSetKey marks a request context: WithSendBufferSet.
type sendBufferSetKey struct{}

// WithSendBufferSet returns ctx saying that its connection's socket was
// given SetSendBuffer as it was accepted, so that Upgrade and
// AttachStream, given a request with it, do not set it again; it is meant
// for the http.Server.ConnContext of a server whose listener calls
// SetSendBuffer on each connection (api's). A socket handed in without it
// is set at takeover.
func WithSendBufferSet(ctx context.Context) context.Context {
	return context.WithValue(ctx, sendBufferSetKey{}, true)
}

// sendBufferSet reports whether ctx says its socket's send buffer is set.
func sendBufferSet(ctx context.Context) bool {
	set, _ := ctx.Value(sendBufferSetKey{}).(bool)
	return set
}

// setSocketSendBuffer sets sc's SO_SNDBUF to n bytes.
func setSocketSendBuffer(sc syscall.Conn, n int) error {
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("herald/transport: syscall conn: %w", err)
	}
	var setErr error
	if err := raw.Control(func(fd uintptr) { setErr = setSndbuf(fd, n) }); err != nil {
		return fmt.Errorf("herald/transport: syscall conn control: %w", err)
	}
	if setErr != nil {
		return fmt.Errorf("herald/transport: setsockopt SO_SNDBUF %d: %w", n, setErr)
	}
	return nil
}
