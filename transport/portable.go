package transport

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// portableBufferSize is the portable path's read buffer, one per connection.
const portableBufferSize = 16 << 10

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

// portableConn is one connection of the portable path: a reader that
// parses frames and a writer that flushes the queue, over net.Conn.
type portableConn struct {
	c     *conn
	nc    net.Conn
	path  *portablePath
	kick  chan struct{} // the queue has frames; capacity 1 coalesces
	gone  chan struct{} // closed when the connection is finished
	early []byte
	// pace and throttled are the reader's, as a loop keeps them for its
	// connections (read_linux.go).
	pace      broker.Bucket
	throttled bool
}

func (p *portableConn) schedule(*conn) {
	select {
	case p.kick <- struct{}{}:
	default: // a kick is already waiting
	}
}

// attachPortable opens nc as a connection of the portable path. It reports
// whether the connection was opened.
func (s *Server) attachPortable(nc net.Conn, early []byte, o opening) bool {
	pp := s.portable
	p := &portableConn{nc: nc, path: pp, kick: make(chan struct{}, 1), gone: make(chan struct{}), early: early}
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

// readLoop parses what arrives until the peer or the server ends the
// connection. It needs no read deadline: the sweeper closes a silent
// connection with 4002 and closes the socket once a close outlives its
// deadline, which ends the Read.
func (p *portableConn) readLoop() {
	defer p.path.wg.Done()
	defer func() {
		p.finish()
		// Here, after the last HandleText: the two never overlap.
		p.path.gone(p.c)
	}()
	if len(p.early) > 0 {
		if !p.parse(p.early) {
			return
		}
		p.early = nil
	}
	buf := make([]byte, portableBufferSize)
	for {
		n, err := p.nc.Read(buf)
		if n > 0 && !p.parse(buf[:n]) {
			return
		}
		if err != nil {
			return // EOF, an error, or the socket closed by finish
		}
	}
}

// parse feeds data to the reader, paced (pace.go): while the pace holds
// frames back it waits until it lets them go on, and the socket is not
// read meanwhile, so TCP holds the client back. A wait is one paced
// frame's interval at most. False: the connection was finished meanwhile.
func (p *portableConn) parse(data []byte) bool {
	pace := &p.path.lim.pace
	for {
		now := monoNow()
		if p.pace.Full(now) {
			p.throttled = false
		}
		spent := p.c.readData(data, pace.Budget(p.pace, now))
		pace.Spend(&p.pace, now, spent)
		if !p.c.holding() {
			return true
		}
		data = nil
		if !p.throttled {
			p.throttled = true
			p.path.lim.stats.throttledConn()
		}
		resume := time.NewTimer(time.Duration(pace.ResumeAt(p.pace) - monoNow()))
		select {
		case <-resume.C:
		case <-p.gone:
			resume.Stop()
			return false
		}
	}
}

// writeLoop flushes the queue whenever Send kicks it.
func (p *portableConn) writeLoop() {
	defer p.path.wg.Done()
	var bufs [][]byte
	for {
		select {
		case <-p.gone:
			return
		case <-p.kick:
		}
		if !p.flush(&bufs) {
			p.finish()
			return
		}
	}
}

// flush writes until the queue is empty; false means the socket failed.
func (p *portableConn) flush(scratch *[][]byte) bool {
	for {
		*scratch = p.c.batch((*scratch)[:0], maxBatch)
		if len(*scratch) == 0 {
			p.c.written(0)
			return true
		}
		// Writes to a reader that does not read block here; the deadline
		// bounds that, and the sweeper closes the socket sooner once a
		// close outlives CloseTimeout.
		_ = p.nc.SetWriteDeadline(time.Now().Add(p.c.lim.closeTimeout + 2*p.c.lim.heartbeat))
		bufs := net.Buffers(*scratch)
		n, err := bufs.WriteTo(p.nc) // writev on TCP
		clear(*scratch)
		if err != nil {
			return false
		}
		empty, closeSent := p.c.written(int(n))
		if closeSent {
			p.closeWrite()
		}
		if empty {
			return true
		}
	}
}

// closeWrite half-closes after the close frame, so the peer reads it
// before the socket goes (a close with unread input would reset it).
func (p *portableConn) closeWrite() {
	if cw, ok := p.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = p.nc.Close()
}

// finish closes the socket, once; the reader then stops and tells the
// receiver.
func (p *portableConn) finish() {
	if !p.path.remove(p) {
		return
	}
	close(p.gone)
	if err := p.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		p.path.log.Debug("close connection", zap.Error(err))
	}
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
			if p.c.sweep(now, ping) {
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
