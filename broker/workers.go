package broker

import (
	"context"
	"sync"
)

// workerGroup owns every goroutine the sessions start: their workers, and
// the expiry timer's closes of connections whose token expired
// (expiries). It refuses new ones once closing, and lets Close wait for
// whatever runs.
type workerGroup struct {
	mu      sync.Mutex
	running int // workers, and expiry timer runs
	closing bool
	idle    chan struct{} // closed when closing and none run
}

// start runs fn on a new goroutine unless the group is closing.
func (g *workerGroup) start(fn func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.running++
	go func() {
		defer g.done()
		fn()
	}()
	return true
}

// enter counts the calling goroutine as a worker of the group, unless
// the group is closing (false); then it calls done when finished.
func (g *workerGroup) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.running++
	return true
}

func (g *workerGroup) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.closing && g.running == 0 {
		close(g.idle)
	}
}

// close refuses new workers and waits for what runs or for ctx.
func (g *workerGroup) close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closing {
		g.closing = true
		g.idle = make(chan struct{})
		if g.running == 0 {
			close(g.idle)
		}
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits, after close, until nothing runs.
func (g *workerGroup) wait() {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	<-idle
}
