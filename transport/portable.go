package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"go.uber.org/zap"
)

// portableBufferSize is the portable path's read buffer, one per connection.
const portableBufferSize = 16 << 10

// portableConn runs one connection over net.Conn with two goroutines: a
// reader that parses frames and a writer that flushes the queue. It is the
// path for systems without epoll and for connections that are not plain
// TCP.
type portableConn struct {
	c     *conn
	nc    net.Conn
	srv   *Server
	kick  chan struct{} // the queue has frames; capacity 1 coalesces
	gone  chan struct{} // closed when the connection is finished
	early []byte
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
	p := &portableConn{nc: nc, srv: s, kick: make(chan struct{}, 1), gone: make(chan struct{}), early: early}
	p.c = newConn(p, s.lim)
	s.portableMu.Lock()
	if s.stopping.Load() {
		s.portableMu.Unlock()
		_ = nc.Close()
		return false
	}
	s.portable[p] = struct{}{}
	s.workers.Add(2)
	s.portableMu.Unlock()

	s.opened(p.c, o)
	go p.readLoop()
	go p.writeLoop()
	return true
}

// readLoop parses what arrives until the peer or the server ends the
// connection. Each read has a deadline: two heartbeats while open (the
// 4002 rule), the close deadline once closing.
func (p *portableConn) readLoop() {
	defer p.srv.workers.Done()
	defer func() {
		p.finish()
		// Here, after the last HandleText: the two never overlap.
		p.srv.gone(p.c)
	}()
	if len(p.early) > 0 {
		p.c.readData(p.early)
		p.early = nil
	}
	buf := make([]byte, portableBufferSize)
	for {
		if err := p.nc.SetReadDeadline(p.readDeadline()); err != nil {
			return
		}
		n, err := p.nc.Read(buf)
		if n > 0 {
			p.c.readData(buf[:n])
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if !p.c.isClosing() {
				p.c.fail(ErrHeartbeatTimeout)
				continue
			}
			// Another close (the sweep's own 4002, the broker's) began
			// after this read's deadline was set: keep reading until the
			// close deadline, so its close frame is written first.
			if !p.closeDeadlinePassed() {
				continue
			}
		}
		if err != nil {
			return // EOF, an error, or the close deadline passed
		}
	}
}

func (p *portableConn) closeDeadlinePassed() bool {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return monoNow() > p.c.closeBy
}

func (p *portableConn) readDeadline() time.Time {
	p.c.mu.Lock()
	closing, closeBy := p.c.closing, p.c.closeBy
	p.c.mu.Unlock()
	if closing {
		return time.Now().Add(time.Duration(closeBy - monoNow()))
	}
	return time.Now().Add(2*p.c.lim.heartbeat + sweepInterval(p.c.lim))
}

// writeLoop flushes the queue whenever Send kicks it.
func (p *portableConn) writeLoop() {
	defer p.srv.workers.Done()
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
	p.srv.portableMu.Lock()
	_, live := p.srv.portable[p]
	delete(p.srv.portable, p)
	p.srv.portableMu.Unlock()
	if !live {
		return
	}
	close(p.gone)
	if err := p.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		p.srv.log.Debug("close connection", zap.Error(err))
	}
}

// sweepPortable pings portable connections, closes silent ones with 4002
// and drops those whose close outlived CloseTimeout.
func (s *Server) sweepPortable() {
	defer close(s.sweepDone)
	tick := time.NewTicker(sweepInterval(s.lim))
	defer tick.Stop()
	lastPing := monoNow()
	var conns []*portableConn
	for {
		select {
		case <-s.stopSweep:
			return
		case <-tick.C:
		}
		now := monoNow()
		ping := now-lastPing >= int64(s.lim.heartbeat)*3/4
		if ping {
			lastPing = now
		}
		conns = s.portableConns(conns[:0])
		for _, p := range conns {
			if p.c.sweep(now, ping) {
				p.finish()
			}
		}
		clear(conns)
	}
}

func (s *Server) portableConns(dst []*portableConn) []*portableConn {
	s.portableMu.Lock()
	defer s.portableMu.Unlock()
	for p := range s.portable {
		dst = append(dst, p)
	}
	return dst
}

// closePortable closes every portable connection with 1001, or (force)
// drops it now.
func (s *Server) closePortable(force bool) {
	for _, p := range s.portableConns(nil) {
		if force {
			p.finish()
		} else {
			p.c.fail(ErrServerClosed)
		}
	}
}
