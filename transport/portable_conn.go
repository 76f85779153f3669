package transport

import (
	"errors"
	"io"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// portableBufferSize is the portable path's read buffer, one per connection.
const portableBufferSize = 16 << 10

// portableConn is one connection of the portable path: a reader that
// parses frames and a writer that flushes the queue, over net.Conn.
type portableConn struct {
	c    *conn
	nc   net.Conn
	path *portablePath
	kick chan struct{} // the queue has frames; capacity 1 coalesces
	gone chan struct{} // closed when the connection is finished
	// complete is closed by the writer once the close is complete
	// (handshakeDone), for a reader that waits to read on (readOver).
	complete chan struct{}
	early    []byte
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
		if p.c.isClosing() && p.c.closingReadOver() && !p.readOver() {
			return
		}
		if err != nil {
			return // EOF, an error, or the socket closed by finish
		}
	}
}

// readOver waits while c, closing, is not read for its close any more
// (closingReadOver), and reports whether to read on. Past
// closingReadBytes it is read no more: finished at once when its client
// sent its close and goes on sending once the close is complete, else
// ended by its close deadline or the linger. Past a header RFC 6455
// forbids it is read again once its close is complete, as after a
// client's close (loop.readOver): what its client sends is dropped,
// counted, and its EOF ends it.
func (p *portableConn) readOver() bool {
	switch {
	case p.c.closingReadSpent() && p.c.clientClosed() && p.c.handshakeDone():
		return false // its client goes on sending after its close (closingReadBytes)
	case p.c.closingReadSpent():
		<-p.gone // read no more (closingReadBytes)
		return false
	}
	select {
	case <-p.gone:
		return false
	case <-p.complete:
		return true
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
		spent, answered := p.c.readData(data, pace.Budget(p.pace, now))
		if answered {
			// The closing handshake is complete: the writer ends the
			// connection once its socket is drained (linger), and this
			// reader reads on meanwhile, so that no input is left.
			p.schedule(p.c)
		}
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
		if p.c.handshakeDone() {
			close(p.complete)
			p.linger()
			return
		}
	}
}

// linger finishes p, whose close is complete, once its socket holds
// nothing its client has not acknowledged, looking at it after
// lingerFirstCheck and then twice as long each time, up to a sweep's
// interval; the sweeper still ends it at its close deadline. Closing the
// socket earlier would lose a client that reads slowly the rest to a
// reset at its next byte (loop.dropDone).
func (p *portableConn) linger() {
	wait, most := lingerFirstCheck, sweepInterval(p.path.lim)
	for !connSendQueueEmpty(p.nc) {
		next := time.NewTimer(wait)
		select {
		case <-next.C:
		case <-p.gone:
			next.Stop()
			return
		}
		wait = min(2*wait, most)
	}
	p.finish()
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
