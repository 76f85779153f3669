package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a Redis. It can make the open ones go
// silent: still connected, but dropping whatever Redis sends, as a
// connection behind a stuck middlebox does (connections opened afterwards
// work); lose them without a word, as a NAT or load balancer that
// restarted does; and cut them all and refuse new ones for a while, as a
// network that drops does.
type Proxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	pipes   []*pipe
	closed  bool
	cutting bool // refuse new connections
}

type pipe struct {
	client, server net.Conn
	silent         atomic.Bool
	lost           atomic.Bool // Redis's side closed; the client's is reset at its next bytes
}

// StartProxy forwards connections to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is where the proxy listens.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Silence makes every connection open now drop what Redis sends.
func (p *Proxy) Silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pipes {
		pp.silent.Store(true)
	}
}

// Lose loses every connection open now (new ones work): Redis sees each
// close at once, the client only when it next sends, with a reset, and
// nothing from Redis reaches it any more. A pooled connection idle
// meanwhile passes go-redis's health check (no close reached it) and
// fails the first call sent on it.
func (p *Proxy) Lose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pipes {
		pp.lost.Store(true)
		pp.server.Close()
	}
}

// Cut closes every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutting = true
	for _, pp := range p.pipes {
		pp.client.Close()
		pp.server.Close()
	}
	p.pipes = nil
}

// Restore accepts connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cutting = false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pp := &pipe{client: c, server: s}
		p.mu.Lock()
		if p.closed || p.cutting {
			closed := p.closed
			p.mu.Unlock()
			c.Close()
			s.Close()
			if closed {
				return
			}
			continue
		}
		p.pipes = append(p.pipes, pp)
		p.mu.Unlock()
		p.wg.Go(pp.fromClient)
		p.wg.Go(func() {
			pp.fromServer()
			if !pp.lost.Load() {
				c.Close()
			}
		})
	}
}

// fromClient copies the client's bytes to Redis; once the pipe is lost it
// resets the client's connection at its first bytes.
func (pp *pipe) fromClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := pp.client.Read(buf)
		if n > 0 && pp.lost.Load() {
			if tcp, ok := pp.client.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // close with a reset
			}
			pp.client.Close()
			return
		}
		if n > 0 {
			if _, werr := pp.server.Write(buf[:n]); werr != nil && !pp.lost.Load() {
				pp.client.Close()
				return
			}
		}
		if err != nil {
			pp.server.Close()
			return
		}
	}
}

// fromServer copies Redis's bytes to the client unless the pipe is silent.
func (pp *pipe) fromServer() {
	buf := make([]byte, 32<<10)
	for {
		n, err := pp.server.Read(buf)
		if n > 0 && !pp.silent.Load() {
			if _, werr := pp.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	for _, pp := range p.pipes {
		pp.client.Close()
		pp.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
