package web

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// slowLink forwards TCP connections to a node and can hold back what
// the node sends on them, as a slow link does: what the node answered
// meanwhile reaches the page later, in order, while what the page sends
// goes on at once.
type slowLink struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	gate  chan struct{} // while not nil, the node's bytes wait for it to close
	held  int           // bytes of the node's held back since hold
}

// startSlowLink forwards to the node at base (http://host:port) until
// the test ends, and returns the proxy's base URL.
func startSlowLink(t *testing.T, base string) (*slowLink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowLink{l: l, target: base[len("http://"):]}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p, "http://" + l.Addr().String()
}

func (p *slowLink) accept() {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(server, client); server.Close() })
		p.wg.Go(func() { p.pass(client, server); client.Close() })
	}
}

// pass copies what the node sends to the page, holding each read back
// while a hold lasts.
func (p *slowLink) pass(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			if gate != nil {
				p.held += n
			}
			p.mu.Unlock()
			if gate != nil {
				<-gate
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold holds back what the node sends from now on, until the returned
// release.
func (p *slowLink) hold() (release func()) {
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate, p.held = gate, 0
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gate == gate {
			p.gate = nil
			close(gate)
		}
	}
}

// waitHeld waits until the node sent something that the hold keeps back.
func (p *slowLink) waitHeld(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(browserTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		held := p.held
		p.mu.Unlock()
		if held > 0 {
			return
		}
	}
	t.Fatal(errors.New("the node sent nothing while held"))
}

func (p *slowLink) close() {
	p.l.Close()
	p.mu.Lock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
