package redis_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy forwards TCP connections to a Redis. It can make the open ones go
// silent: still connected, but dropping whatever Redis sends, as a
// connection behind a stuck middlebox does (connections opened afterwards
// work); and it can cut them all and refuse new ones for a while, as a
// network that drops does.
type proxy struct {
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
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

// silence makes every connection open now drop what Redis sends.
func (p *proxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pipes {
		pp.silent.Store(true)
	}
}

// cut closes every open connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutting = true
	for _, pp := range p.pipes {
		pp.client.Close()
		pp.server.Close()
	}
	p.pipes = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.cutting = false
	p.mu.Unlock()
}

func (p *proxy) accept() {
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
		p.wg.Go(func() { _, _ = io.Copy(s, c); s.Close() })
		p.wg.Go(func() { pp.fromServer(); c.Close() })
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

func (p *proxy) close() {
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
