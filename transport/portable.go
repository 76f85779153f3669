package transport

import (
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// portablePath runs the connections that are not on an epoll loop (TLS,
// and every connection off Linux or with Config.Portable): each has a
// reader and a writer goroutine, and one sweeper serves them all. It owns
// those goroutines: stop ends the connections and wait returns once every
// goroutine has ended. The sweeper runs only while the path has
// connections, so a server whose connections are all on epoll runs none.
type portablePath struct {
	lim  *limits
	log  *zap.Logger
	gone func(c *conn) // tells the server, once, that c is closed

	mu       sync.Mutex
	conns    map[*portableConn]struct{}
	stopping bool
	sweeping bool           // a sweeper runs
	emptied  chan struct{}  // capacity 1: the last connection left, so the sweeper may end
	wg       sync.WaitGroup // every goroutine of the path
}

func newPortablePath(lim *limits, log *zap.Logger, gone func(*conn)) *portablePath {
	return &portablePath{lim: lim, log: log, gone: gone,
		conns: make(map[*portableConn]struct{}), emptied: make(chan struct{}, 1)}
}

// attachPortable opens nc as a connection of the portable path. It reports
// whether the connection was opened.
func (s *Server) attachPortable(nc net.Conn, early []byte, o opening) bool {
	pp := s.portable
	p := &portableConn{nc: nc, path: pp, kick: make(chan struct{}, 1), gone: make(chan struct{}),
		complete: make(chan struct{}), early: early}
	p.c = newConn(p, pp.lim)
	if !pp.add(p) {
		_ = nc.Close()
		return false
	}
	s.opened(p.c, o)
	go p.readLoop()  // owned by pp: wait returns after it
	go p.writeLoop() // likewise
	return true
}

// add registers p, counts its two goroutines, and starts the sweeper if
// none runs. False: the path is stopping.
func (pp *portablePath) add(p *portableConn) bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.stopping {
		return false
	}
	pp.conns[p] = struct{}{}
	pp.wg.Add(2)
	if !pp.sweeping {
		pp.sweeping = true
		pp.wg.Add(1)
		go pp.sweep()
	}
	return true
}

// remove unregisters p and says whether this call did; the sweeper is
// told when the path has no connection left.
func (pp *portablePath) remove(p *portableConn) bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if _, live := pp.conns[p]; !live {
		return false
	}
	delete(pp.conns, p)
	if len(pp.conns) == 0 {
		select {
		case pp.emptied <- struct{}{}:
		default: // already told
		}
	}
	return true
}

// sweep pings the path's connections once a heartbeat, closes silent ones
// with 4002 and drops those whose close outlived CloseTimeout, until the
// path has no connection left.
func (pp *portablePath) sweep() {
	defer pp.wg.Done()
	tick := time.NewTicker(sweepInterval(pp.lim))
	defer tick.Stop()
	cadence := pingCadence{last: monoNow()}
	var conns []*portableConn
	for {
		select {
		case <-tick.C:
		case <-pp.emptied:
		}
		conns = pp.snapshot(conns[:0])
		if conns == nil {
			return // none left; the next add starts a sweeper again
		}
		now := monoNow()
		ping := cadence.due(now, pp.lim.heartbeat)
		for _, p := range conns {
			// A closing connection whose reader stopped (closingReadOver)
			// learns of its client's reset from no read.
			if p.c.sweep(now, ping) || p.c.isClosing() && connSocketReset(p.nc) {
				p.finish()
			}
		}
		clear(conns)
	}
}

// snapshot appends the path's connections to dst. With none, it returns
// nil and marks the sweeper stopped, under the lock that add takes to
// start one.
func (pp *portablePath) snapshot(dst []*portableConn) []*portableConn {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if len(pp.conns) == 0 {
		pp.sweeping = false
		return nil
	}
	for p := range pp.conns {
		dst = append(dst, p)
	}
	return dst
}

// stop refuses new connections and closes every connection with 1001, or
// (force) drops it now.
func (pp *portablePath) stop(force bool) {
	pp.mu.Lock()
	pp.stopping = true
	conns := make([]*portableConn, 0, len(pp.conns))
	for p := range pp.conns {
		conns = append(conns, p)
	}
	pp.mu.Unlock()
	for _, p := range conns {
		if force {
			p.finish()
		} else {
			p.c.fail(ErrServerClosed)
		}
	}
}

// wait returns once every goroutine of the path has ended; call it after
// stop.
func (pp *portablePath) wait() { pp.wg.Wait() }
