package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// keepAlive is go-redis's own keep-alive setting, which its default
// dialer uses and newDialer keeps.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// newDialer returns the dialer of every connection of the engine's
// clients (sentinels' included): TCP, and TLS when tc is set, as
// go-redis's default one, but with the TCP connect and the TLS handshake
// within timeout together (ctx may end them sooner), and with every
// failure that comes before Redis answered anything on the connection
// marked as one (errNoAnswer).
//
// That failure is a publish's business: go-redis writes a command on a
// new connection only once Redis answered its handshake (HELLO, then
// AUTH or SELECT if need be), so when the connection fails before any
// byte came back, no command was sent, and nothing was published. A
// Redis that wants a client certificate (TLS 1.3 says so only at the
// first read), or a proxy that takes the connection and closes it with
// no Redis behind, fails there; without the mark those looked like a
// connection that broke after the publish was written (outcome unknown).
// The timeout is shorter than the calls' (see dialTimeout), so that a
// call learns of the failure before its own deadline.
func newDialer(timeout time.Duration, tc *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{KeepAliveConfig: keepAlive}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := nd.DialContext(ctx, network, addr)
		if err == nil && tc != nil {
			conn, err = shakeHands(ctx, conn, addr, tc, timeout)
		}
		if err != nil {
			return nil, &noAnswerError{err: err}
		}
		return awaitAnswer(conn), nil
	}
}

// shakeHands runs the TLS handshake on conn within ctx, checking the
// server's certificate against the host addr names unless tc names one,
// as tls.Dialer does, and closes conn when it fails.
//
// A plain Redis port named by a rediss:// URL does not answer: Redis
// reads the ClientHello as an inline command whose line has not ended
// (it looks for the line's end no further than the first zero byte,
// which comes within the first six) and waits for the rest. The error
// then says what to look at, since a timeout alone would not.
func shakeHands(ctx context.Context, conn net.Conn, addr string, tc *tls.Config, timeout time.Duration) (net.Conn, error) {
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		tc = tc.Clone()
		tc.ServerName = host
	}
	tconn := tls.Client(conn, tc)
	err := tconn.HandshakeContext(ctx)
	if err == nil {
		return tconn, nil
	}
	conn.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("TLS handshake with %s failed: no answer within %v (does that port speak TLS?): %w", addr, timeout, err)
	}
	return nil, fmt.Errorf("TLS handshake with %s failed: %w", addr, err)
}

// errNoAnswer is what every failure of a connection Redis never answered
// wraps, the dial's own included.
var errNoAnswer = errors.New("before redis answered the connection")

// noAnswerError is the error of a connection Redis never answered.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return errNoAnswer.Error() + ": " + e.err.Error() }

// Unwrap gives a list, not one error: go-redis takes one layer off the
// error of a failed handshake (errors.Unwrap, which takes no list), and
// would take the mark off with it.
func (e *noAnswerError) Unwrap() []error { return []error{errNoAnswer, e.err} }

// neverAnswered reports the failure of a connection before Redis answered
// anything on it: nothing was sent on it but the handshake.
func neverAnswered(err error) bool { return errors.Is(err, errNoAnswer) }

// answerConn marks its read and write errors until the first byte came
// from Redis.
type answerConn struct {
	net.Conn
	answered atomic.Bool // a byte came: pub/sub connections read and write on two goroutines
}

// answerSysConn is an answerConn over a connection that gives its file
// descriptor (TCP), which go-redis's pool uses to see, before it hands a
// connection out, that the peer has not closed it. A TLS connection gives
// none, and go-redis skips that check for it, as before.
type answerSysConn struct {
	*answerConn
	sys syscall.Conn
}

func (c *answerSysConn) SyscallConn() (syscall.RawConn, error) { return c.sys.SyscallConn() }

// awaitAnswer wraps conn, keeping what go-redis asks of it.
func awaitAnswer(conn net.Conn) net.Conn {
	c := &answerConn{Conn: conn}
	if sys, ok := conn.(syscall.Conn); ok {
		return &answerSysConn{answerConn: c, sys: sys}
	}
	return c
}

func (c *answerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.answered.Load() { // a load, not a store, on every read after the first
		c.answered.Store(true)
	}
	return n, c.mark(err)
}

func (c *answerConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.mark(err)
}

// mark wraps err when nothing came from Redis yet.
func (c *answerConn) mark(err error) error {
	if err == nil || c.answered.Load() {
		return err
	}
	return &noAnswerError{err: err}
}
