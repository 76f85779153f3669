package redis_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// forgetfulProxy forwards TCP connections to Redis and can lose the open
// ones the way a NAT or load balancer that restarted does: Redis sees
// them close at once, the client only when it next sends (the middlebox
// answers with a reset), and nothing from Redis reaches it any more. A
// pooled connection idle at the time passes go-redis's health check (no
// close has reached it) and fails the first call sent on it.
type forgetfulProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	links []*forgetfulLink
}

type forgetfulLink struct {
	client, server net.Conn
	lost           atomic.Bool
}

func startForgetfulProxy(t *testing.T, target string) *forgetfulProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &forgetfulProxy{l: l, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, k := range p.links {
			k.client.Close()
			k.server.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *forgetfulProxy) addr() string { return p.l.Addr().String() }

// forget loses every connection open now; new ones work.
func (p *forgetfulProxy) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.links {
		k.lost.Store(true)
		k.server.Close()
	}
	p.links = nil
}

func (p *forgetfulProxy) accept() {
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
		k := &forgetfulLink{client: c, server: s}
		p.mu.Lock()
		p.links = append(p.links, k)
		p.mu.Unlock()
		p.wg.Go(k.fromClient)
		p.wg.Go(func() { _, _ = io.Copy(c, s) }) // a lost link leaves the client waiting
	}
}

// fromClient passes what the client sends to Redis, and resets the
// client's connection at its first bytes once the link is lost.
func (k *forgetfulLink) fromClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := k.client.Read(buf)
		if n > 0 && k.lost.Load() {
			k.client.(*net.TCPConn).SetLinger(0)
			k.client.Close()
			return
		}
		if n > 0 {
			if _, werr := k.server.Write(buf[:n]); werr != nil && !k.lost.Load() {
				k.client.Close()
				return
			}
		}
		if err != nil {
			k.server.Close()
			k.client.Close()
			return
		}
	}
}

// A link lost without a word costs one reconnect: the probe that finds
// it lost does not also fail on the pooled connections the same loss left
// dead, and neither do the calls of the reconnect after it.
func TestLostLinkCostsOneReconnect(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	px := startForgetfulProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	pub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	sub := newEngine(t, "redis://"+px.addr()+"/0", redis.Config{Prefix: prefix, HistorySize: 10, NodeID: "sub"})
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, "lost")
	mustPublish(t, pub, request("lost"))
	rec.waitFor(t, "lost", 1)
	// Three reads held up at once leave three connections in the pool, or
	// a few more with the engine's own calls: fewer than a probe's sends
	// try (two each).
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Do(ctxFor(t), "CLIENT", "PAUSE", 300, "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := sub.Position(ctxFor(t), "lost"); err != nil {
				t.Errorf("Position: %v", err)
			}
		})
	}
	wg.Wait()
	idle := redis.IdleConns(sub)
	if idle < 3 {
		t.Fatalf("%d idle pooled connections after three reads at once, want 3 or more", idle)
	}
	px.forget()
	lost := mustPublish(t, pub, request("lost"))
	if got := rec.waitFor(t, "lost", 2); got[1].ID != lost.ID {
		t.Fatalf("after the loss: got %s, want %s", got[1].ID, lost.ID)
	}
	probes := redis.Probes(sub)
	if !eventually(func() bool { return redis.Probes(sub) >= probes+5 }) {
		t.Fatal("no probes after the reconnect")
	}
	if n := sub.Stats().Reconnects; n != 1 {
		t.Errorf("one lost link with %d idle pooled connections cost %d reconnects, want 1", idle, n)
	}
	rec.checkBreaches(t)
}
