package broker

import (
	"context"
	"sync"
	"time"
)

// workerGroup owns every goroutine the sessions start: their workers, and
// the expiry timers that close a connection when its token expires. It
// refuses new ones once closing, and lets Close stop the pending timers
// and wait for whatever runs.
type workerGroup struct {
	mu      sync.Mutex
	running int // workers, and timers whose function runs
	closing bool
	idle    chan struct{}        // closed when closing and none run
	timers  map[*expiry]struct{} // timers set and not yet fired or stopped
}

// expiry is a session's timer, started by afterFunc.
type expiry struct{ t *time.Timer }

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

// afterFunc runs fn after d, as a worker of the group, unless the timer is
// stopped or the group closes first. It returns nil once closing.
func (g *workerGroup) afterFunc(d time.Duration, fn func()) *expiry {
	g.mu.Lock()
	defer g.mu.Unlock() // held until x.t is set: fire waits for it
	if g.closing {
		return nil
	}
	x := new(expiry)
	x.t = time.AfterFunc(d, func() {
		if g.fire(x) {
			defer g.done()
			fn()
		}
	})
	if g.timers == nil {
		g.timers = make(map[*expiry]struct{})
	}
	g.timers[x] = struct{}{}
	return x
}

// fire says whether a timer that went off may run its function: it was
// neither stopped nor dropped by close. Then it counts as running.
func (g *workerGroup) fire(x *expiry) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, pending := g.timers[x]; !pending {
		return false
	}
	delete(g.timers, x)
	g.running++
	return true
}

// stopTimer stops x (nil: none); its function will not start after this.
func (g *workerGroup) stopTimer(x *expiry) {
	if x == nil {
		return
	}
	g.mu.Lock()
	delete(g.timers, x)
	g.mu.Unlock()
	x.t.Stop()
}

func (g *workerGroup) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.closing && g.running == 0 {
		close(g.idle)
	}
}

// close refuses new workers and timers, stops the pending timers, and
// waits for what runs or for ctx.
func (g *workerGroup) close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closing {
		g.closing = true
		g.idle = make(chan struct{})
		if g.running == 0 {
			close(g.idle)
		}
		for x := range g.timers {
			x.t.Stop()
		}
		g.timers = nil
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
