package limits

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// refusalWriteTimeout bounds the write of a refusal at accept. A new
// socket's send buffer is empty, so the write does not wait in practice;
// the bound only keeps the accept loop safe from a conn that would.
const refusalWriteTimeout = 100 * time.Millisecond

// ListenerConfig says what a Listener counts.
type ListenerConfig struct {
	// Conns limits the connections one address holds, counted from
	// accept (ConnLimiter.Hold); nil: no per-address limit at accept.
	Conns *ConnLimiter
	// Accepts paces the connections one address opens, whatever they
	// go on to ask (its Rate and Burst, ConnLimiter.Meter), trusted
	// proxies aside; one past it is refused as one past Conns is. The
	// connect rate is spent at each upgrade (/ws, /sse) only, so
	// connections that asked anything else, or nothing, came as fast as
	// the client opened them: one address opening connections of one
	// request each had 7,900 a second answered, a core of the node.
	// Nil: no pace.
	Accepts *ConnLimiter
	// ClientIP names the trusted proxies. Their connections are not
	// limited per address at accept: the clients behind them are known
	// only from the request, so the upgrade limits those. Nil: none.
	ClientIP *ClientIP
	// Files counts every accepted connection; nil: nothing is counted.
	Files *OpenFiles
	// Refusal is written to a connection refused at accept before it is
	// closed; nil: it is closed without a word (as under TLS, whose
	// client would not understand plain text).
	Refusal []byte
	// Refused, when set, is told the peer address of each connection
	// refused at accept, for the log; it runs in Accept, so it must be
	// quick (a rate-limited log line is).
	Refused func(peer netip.Addr)
}

// Listener counts each connection from the moment it is accepted, before
// a byte of its request is read, so that peers which open connections and
// send their requests slowly, or never, cannot fill the node (docs/protocol.md
// section 6). A connection over its address's limit is closed at once.
type Listener struct {
	net.Listener
	cfg    ListenerConfig
	drains drains
}

// NewListener wraps l; it returns l itself when cfg counts nothing.
func NewListener(l net.Listener, cfg ListenerConfig) net.Listener {
	if cfg.Conns != nil && !cfg.Conns.Enabled() {
		cfg.Conns = nil
	}
	if cfg.Conns == nil && cfg.Files == nil && cfg.Accepts == nil {
		return l
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = new(ClientIP)
	}
	return &Listener{Listener: l, cfg: cfg}
}

// Accept returns the next connection within the limits, as a *Conn;
// connections refused meanwhile are closed.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if counted := l.admit(c); counted != nil {
			return counted, nil
		}
	}
}

// admit counts c in, or refuses and closes it (nil).
func (l *Listener) admit(c net.Conn) *Conn {
	s := new(Slot)
	if f := l.cfg.Files; f != nil {
		f.opened()
		s.files.Store(f)
	}
	counted := &Conn{Conn: c}
	peer, _ := parseHop(c.RemoteAddr().String()) // the zero Addr is one address
	trusted := l.cfg.ClientIP.Trusted(peer)
	if l.cfg.Accepts != nil && !trusted && !l.cfg.Accepts.Meter(peer) {
		// Closed without a word: what a refusal costs is what the pace
		// is for (writing one and draining the request took most of it).
		_ = c.Close()
		s.Release()
		if l.cfg.Refused != nil {
			l.cfg.Refused(peer)
		}
		return nil
	}
	if l.cfg.Conns != nil && !trusted {
		e, ok := l.cfg.Conns.take(peer, takeOpen)
		if !ok {
			l.refuseFrom(peer, c, s.Release)
			return nil
		}
		s.perAddress.Store(e)
		counted.heldPerAddress = true
	}
	counted.slot.Store(s)
	return counted
}

// refuseFrom refuses c, from peer, and tells Refused of it.
func (l *Listener) refuseFrom(peer netip.Addr, c net.Conn, release func()) {
	l.refuse(c, release)
	if l.cfg.Refused != nil {
		l.cfg.Refused(peer)
	}
}

// refuse answers c with the refusal, if any, and closes it, then calls
// release: on a drain (drains) when one is free, so that an HTTP client
// reads the refusal rather than a reset; otherwise at once. The request
// itself is never parsed.
func (l *Listener) refuse(c net.Conn, release func()) {
	if l.cfg.Refusal == nil {
		_ = c.Close()
		release()
		return
	}
	if l.drains.start(c, l.cfg.Refusal, release) {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	_, _ = c.Write(l.cfg.Refusal) // the peer may be gone: closing is all that matters
	_ = c.Close()
	release()
}

// Close stops accepting, ends the drains of refused connections and
// waits for them.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.drains.stop()
	return err
}

// Slot is what one connection holds of the limits: its descriptor's
// count and its place under its address's limit. It is 16 bytes, kept for
// as long as the connection lives, its WebSocket's included; the zero
// Slot holds nothing. Each part is given back once, whoever releases:
// Release and Take swap it out.
type Slot struct {
	files      atomic.Pointer[OpenFiles] // nil: no descriptor counted
	perAddress atomic.Pointer[entry]     // nil: not counted per address
}

// Release gives the slot back; later calls, and calls on a nil Slot, do
// nothing.
func (s *Slot) Release() {
	if s == nil {
		return
	}
	if e := s.perAddress.Swap(nil); e != nil {
		e.limiter.releaseEntry(e)
	}
	if f := s.files.Swap(nil); f != nil {
		f.closed()
	}
}

// Take moves what from holds into s, so that one Slot gives back what a
// connection was counted for at accept and at its upgrade; from holds
// nothing after, and a nil from gives nothing. A connection is counted
// per address once (at accept, or at the upgrade when accept did not),
// and has one descriptor: should s hold either already, what it held is
// given back rather than lost.
func (s *Slot) Take(from *Slot) {
	if from == nil {
		return
	}
	if e := from.perAddress.Swap(nil); e != nil {
		if old := s.perAddress.Swap(e); old != nil {
			old.limiter.releaseEntry(old)
		}
	}
	if f := from.files.Swap(nil); f != nil {
		if old := s.files.Swap(f); old != nil {
			old.closed()
		}
	}
}

// Holds reports whether s has anything to give back; false for a nil
// Slot.
func (s *Slot) Holds() bool {
	return s != nil && (s.perAddress.Load() != nil || s.files.Load() != nil)
}

// Conn is a connection a Listener accepted, holding its slot. Exactly one
// owner gives the slot back, once: Close, unless Detach handed it to
// another owner first.
type Conn struct {
	net.Conn
	slot           atomic.Pointer[Slot] // nil once released or detached
	heldPerAddress bool
}

// Close closes the connection and gives its slot back, unless detached.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if s := c.slot.Swap(nil); s != nil {
		s.Release()
	}
	return err
}

// Detach hands the bare connection and its slot to a new owner, which
// calls the slot's Release (once is enough; more do nothing) when the
// connection, in whatever form it now lives, has ended; a nil slot (one
// released or detached already) releases nothing. An upgrade detaches:
// the WebSocket keeps the slot until it closes, and the bare
// *net.TCPConn lets transport move the socket onto its event loop. After
// Detach, Close releases nothing.
func (c *Conn) Detach() (bare net.Conn, slot *Slot) {
	return c.Conn, c.slot.Swap(nil)
}

// SyscallConn gives the socket under c, so that transport can size its
// buffers under TLS, where the connection it takes over is a *tls.Conn
// over c.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("herald/limits: %T has no socket", c.Conn)
	}
	return sc.SyscallConn()
}

// HeldPerAddress reports whether the connection was counted against its
// address's MaxOpen at accept, so that an upgrade does not count it
// again. False for a nil Conn.
func (c *Conn) HeldPerAddress() bool { return c != nil && c.heldPerAddress }

type connKey struct{}

// WithConn returns ctx carrying c when c, or the connection under c's
// TLS, is a Listener's Conn; it is meant for http.Server.ConnContext.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn()
	}
	if counted, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, counted)
	}
	return ctx
}

// ConnFrom returns the Conn WithConn put in ctx; nil when there is none.
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}
