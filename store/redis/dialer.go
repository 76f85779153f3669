package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// keepAlive is go-redis's own keep-alive setting, which its default
// dialer uses and newDialer keeps.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// newDialer returns the dialer of every connection of the engine's
// clients (sentinels' included): go-redis's default one (TCP, and TLS
// when tc is set), but within ctx for the TLS handshake too, and with
// every failure that comes before Redis answered anything on the
// connection marked as one (errNoAnswer).
//
// That failure is a publish's business: go-redis writes a command on a
// new connection only once Redis answered its handshake (HELLO, then
// AUTH or SELECT if need be), so when the connection fails before any
// byte came back, no command was sent, and nothing was published. A
// Redis that wants a client certificate (TLS 1.3 says so only at the
// first read), or a proxy that takes the connection and closes it with
// no Redis behind, fails there; without the mark those looked like a
// connection that broke after the publish was written (outcome unknown).
func newDialer(timeout time.Duration, tc *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: timeout, KeepAliveConfig: keepAlive}
	var dial func(ctx context.Context, network, addr string) (net.Conn, error) = nd.DialContext
	if tc != nil {
		dial = (&tls.Dialer{NetDialer: nd, Config: tc}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, &noAnswerError{err: err}
		}
		return awaitAnswer(conn), nil
	}
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
