package transport

import (
	"context"
	"fmt"
	"math"
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

// DefaultReceiveBufferBytes is the SO_RCVBUF a node sets beside
// DefaultSendBufferBytes (HERALD_SOCKET_RECEIVE_BUFFER_BYTES). What a
// client sends faster than its connection's read pace takes it (pace.go),
// or a request body the node has not come to yet, waits in the kernel:
// left to autotuning, the socket of a WebSocket flooding 60 KB publishes
// grew from 131,072 to 564,319 bytes in 2 s, holding 544,908 unread, and
// that of an 8 MiB POST body to 1,482,016 (towards net.ipv4.tcp_rmem's
// maximum, 6 MiB by default), for each of an address's connections. The
// kernel doubles the value for its overhead and stops autotuning the
// socket.
const DefaultReceiveBufferBytes = 128 << 10

// SetSocketBuffers sets SO_SNDBUF and SO_RCVBUF on nc's socket to
// Config.SendBufferBytes and Config.ReceiveBufferBytes, each when set,
// through TLS and any wrapper that gives its syscall.RawConn. A socket it
// cannot reach (a pipe in tests) is left as it is. The api sets them on
// every connection it accepts, before a byte is read or written, so that
// a plain HTTP request's socket is bounded as a WebSocket's is.
func (s *Server) SetSocketBuffers(nc net.Conn) {
	if s.cfg.SendBufferBytes <= 0 && s.cfg.ReceiveBufferBytes <= 0 {
		return
	}
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = t.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	if err := setSocketBuffers(sc, s.cfg.SendBufferBytes, s.cfg.ReceiveBufferBytes); err != nil {
		s.log.Debug("set socket buffers", zap.Error(err))
	}
}

// SetListenerBuffers sets Config.ReceiveBufferBytes as SO_RCVBUF on the
// listening socket l, when set, so that each socket l accepts has it from
// its handshake on: the kernel fixes a connection's window scale at the
// handshake from the receive buffer it has then (tcp(7)), and on older
// kernels a buffer set only after accept may not take effect for the
// window. An accepted socket inherits it; SetSocketBuffers, still called
// on each, gives it the send buffer and sets the same receive buffer
// again, which changes nothing. With ReceiveBufferBytes at 0 or less the
// listener is left as it is (setSocketBuffers), so that its sockets are
// autotuned. A
// listener whose socket cannot be reached is left as it is too: its
// sockets get their buffers at accept alone, as do those of a listener
// not given this.
func (s *Server) SetListenerBuffers(l net.Listener) error {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil
	}
	if err := setSocketBuffers(sc, 0, s.cfg.ReceiveBufferBytes); err != nil {
		return fmt.Errorf("listener %v: %w", l.Addr(), err)
	}
	return nil
}

// socketBuffersSetKey marks a request context: WithSocketBuffersSet.
type socketBuffersSetKey struct{}

// WithSocketBuffersSet returns ctx saying that its connection's socket
// was given SetSocketBuffers as it was accepted, so that Upgrade and
// AttachStream, given a request with it, do not set them again; it is
// meant for the http.Server.ConnContext of a server whose listener calls
// SetSocketBuffers on each connection (api's). A socket handed in without
// it is set at takeover.
func WithSocketBuffersSet(ctx context.Context) context.Context {
	return context.WithValue(ctx, socketBuffersSetKey{}, true)
}

// socketBuffersSet reports whether ctx says its socket's buffers are set.
func socketBuffersSet(ctx context.Context) bool {
	set, _ := ctx.Value(socketBuffersSetKey{}).(bool)
	return set
}

// setSocketBuffers sets sc's SO_SNDBUF to send and its SO_RCVBUF to
// receive bytes, each only when above 0. A value past what the option's
// C int holds is set as its largest, which the kernel caps at
// net.core.wmem_max or rmem_max as it does any large value: passed on
// whole, its low 32 bits alone would reach the kernel, so that 4 GiB set
// the smallest buffer (2,304 bytes).
func setSocketBuffers(sc syscall.Conn, send, receive int) error {
	send, receive = min(send, math.MaxInt32), min(receive, math.MaxInt32)
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("herald/transport: syscall conn: %w", err)
	}
	var sendErr, receiveErr error
	err = raw.Control(func(fd uintptr) {
		if send > 0 {
			sendErr = setSndbuf(fd, send)
		}
		if receive > 0 {
			receiveErr = setRcvbuf(fd, receive)
		}
	})
	if err != nil {
		return fmt.Errorf("herald/transport: syscall conn control: %w", err)
	}
	if sendErr != nil {
		return fmt.Errorf("herald/transport: setsockopt SO_SNDBUF %d: %w", send, sendErr)
	}
	if receiveErr != nil {
		return fmt.Errorf("herald/transport: setsockopt SO_RCVBUF %d: %w", receive, receiveErr)
	}
	return nil
}
