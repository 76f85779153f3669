package redistest

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a Redis. It can make the open ones go
// silent: still connected, but dropping whatever Redis sends, as a
// connection behind a stuck middlebox does (connections opened afterwards
// work); lose them without a word, as a NAT or load balancer that
// restarted does; cut them all and refuse new ones for a while, as a
// network that drops does; and hold back what Redis answers on the
// connections that send some bytes, or those bytes themselves, as a
// stalled link does to the calls it carries, while the others go on.
type Proxy struct {
	l       net.Listener
	target  string
	wg      sync.WaitGroup
	closing chan struct{} // closed when the test ends

	mu      sync.Mutex
	pipes   []*pipe
	closed  bool
	cutting bool  // refuse new connections
	hold    *hold // what Hold asked for, until Release
}

type pipe struct {
	client, server net.Conn
	silent         atomic.Bool
	lost           atomic.Bool          // Redis's side closed; the client's is reset at its next bytes
	held           atomic.Pointer[hold] // the hold it is under: what Redis sends (what the client sends, for HoldSends) waits for its release
}

// hold is one Hold or HoldSends: the bytes that make a connection held,
// and a channel closed by Release.
type hold struct {
	match   []byte
	release chan struct{}
	sends   bool // the client's bytes wait, from match on, not Redis's
}

// StartProxy forwards connections to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, closing: make(chan struct{})}
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

// Hold has every connection whose client sends match from now on (a key
// name, say) keep back what Redis sends on it, from the reply to that
// command on, until Release. The other connections go on.
func (p *Proxy) Hold(match string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = &hold{match: []byte(match), release: make(chan struct{})}
}

// HoldSends has every connection whose client sends match from now on
// keep back those bytes and all it sends after, until Release: Redis
// gets the command late, after those of other connections sent later,
// as over a link that stalled after the client wrote it. The other
// connections go on.
func (p *Proxy) HoldSends(match string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = &hold{match: []byte(match), release: make(chan struct{}), sends: true}
}

// Release sends on what the held connections kept back, and holds no
// more.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold.release)
		p.hold = nil
	}
}

// Held is how many connections the current Hold holds.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pp := range p.pipes {
		if h := pp.held.Load(); h != nil && h == p.hold {
			n++
		}
	}
	return n
}

func (p *Proxy) holding() *hold {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hold
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
		p.wg.Go(func() { p.fromClient(pp) })
		p.wg.Go(func() {
			p.fromServer(pp)
			if !pp.lost.Load() {
				c.Close()
			}
		})
	}
}

// fromClient copies the client's bytes to Redis; once the pipe is lost it
// resets the client's connection at its first bytes. A pipe whose client
// sends what Hold or HoldSends matches is held from those bytes on: for
// HoldSends, they wait here for the release.
func (p *Proxy) fromClient(pp *pipe) {
	buf := make([]byte, 32<<10)
	var tail []byte // the last bytes sent, in case a match spans two reads
	for {
		n, err := pp.client.Read(buf)
		if n > 0 && pp.lost.Load() {
			if tcp, ok := pp.client.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // close with a reset
			}
			pp.client.Close()
			return
		}
		if h := p.holding(); n > 0 && h != nil && pp.held.Load() == nil {
			seen := append(tail, buf[:n]...)
			if bytes.Contains(seen, h.match) {
				pp.held.Store(h)
			}
			tail = append(tail[:0], seen[max(0, len(seen)-len(h.match)):]...)
		}
		if h := pp.held.Load(); n > 0 && h != nil && h.sends {
			select {
			case <-h.release:
			case <-p.closing:
				return
			}
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

// fromServer copies Redis's bytes to the client unless the pipe is silent,
// once the hold the pipe is under, if any, is released.
func (p *Proxy) fromServer(pp *pipe) {
	buf := make([]byte, 32<<10)
	for {
		n, err := pp.server.Read(buf)
		if h := pp.held.Load(); n > 0 && h != nil && !h.sends {
			select {
			case <-h.release:
			case <-p.closing:
				return
			}
		}
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
	close(p.closing)
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
