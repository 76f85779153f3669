//go:build linux

package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/transport/internal/netpoll"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const maxEvents = 256

// loop is one epoll event loop and the connections registered with it. Only
// its goroutine touches conns, buf, iov, the read state (read_linux.go)
// and each conn's reader; other goroutines reach it through schedule and
// add.
type loop struct {
	poller *netpoll.Poller
	srv    *Server
	log    *zap.Logger

	// conns holds the loop's connections, each at its slot, the key its
	// events carry: a dense table, 8 bytes a connection (up to twice that
	// as it grows), where one indexed by descriptor number cost every loop
	// 8 bytes for every descriptor of the process. free lists the slots of
	// dropped connections, reused first.
	conns     []*conn
	free      []int32
	buf       []byte
	iov       []unix.Iovec
	bufs      [][]byte
	gen       uint32
	cadence   pingCadence
	goingAway bool         // every connection was sent 1001
	load      atomic.Int32 // registered connections, for least-loaded placement
	blocked   []*conn      // connections a write left waiting for EPOLLOUT (lag.go)
	probes    probes       // pings that measure how far behind readers are (probe_linux.go)
	lag       loopLag

	// The read state (read_linux.go): the connections that sent commands
	// lately or wait for a later turn, those waiting, when the first of
	// them is due, and what is left of this turn's share.
	readers               map[*conn]reading
	waiting               []waitingRead
	spareWaiting          []waitingRead
	nextRead              int64
	turnBytes, turnFrames int

	// lingering holds the connections whose close is complete but whose
	// socket still holds what their client has not acknowledged,
	// lingerSteps when each is looked at again, by its step, and
	// nextLinger when the first of them is (linger_linux.go).
	lingering   map[*conn]struct{}
	lingerSteps [][]lingerEntry
	nextLinger  int64

	mu       sync.Mutex
	pending  []*conn // connections with frames to write
	spare    []*conn // the other pending list, owned by the loop goroutine
	incoming []*conn // opened connections waiting to be registered
	opening  int     // reserved connections whose Open has not returned
	early    [][]byte
	stopping bool // Shutdown began: close everything with 1001
	force    bool // Shutdown's context ended: drop everything now
	exited   bool

	done chan struct{}
}

func newLoop(srv *Server) (*loop, error) {
	p, err := netpoll.New(maxEvents)
	if err != nil {
		return nil, err
	}
	return &loop{
		poller: p,
		srv:    srv,
		log:    srv.log,
		buf:    make([]byte, readBufferSize),
		iov:    make([]unix.Iovec, 0, maxBatch),
		done:   make(chan struct{}),

		nextRead: maxTime,
	}, nil
}

// schedule puts c on the pending list; the loop is woken only when the
// list goes from empty to non-empty.
func (l *loop) schedule(c *conn) {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return
	}
	l.pending = append(l.pending, c)
	if len(l.pending) == 1 {
		l.lag.pending.Store(monoNow())
		l.wake() // under l.mu: the poller is closed only once exited is set
	}
	l.mu.Unlock()
}

func (l *loop) wake() {
	if err := l.poller.Wake(); err != nil {
		l.log.Error("wake event loop", zap.Error(err))
	}
}

// reserve promises the loop a connection that is being opened, so the
// loop does not stop before it arrives. False: the loop has stopped.
func (l *loop) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exited {
		return false
	}
	l.opening++
	return true
}

// add hands a reserved, opened connection to the loop; early is what the
// client sent right after its upgrade request.
func (l *loop) add(c *conn, early []byte) {
	l.mu.Lock()
	l.opening--
	l.incoming = append(l.incoming, c)
	l.early = append(l.early, early)
	l.wake()
	l.mu.Unlock()
}

func (l *loop) run() {
	defer close(l.done)
	defer l.closePoller()
	events := make([]netpoll.Event, 0, maxEvents)
	tick := sweepInterval(l.srv.lim)
	nextSweep := monoNow() + int64(tick)
	nextScan := int64(0) // due as soon as there is lag to scan for
	l.cadence = pingCadence{last: monoNow()}
	for {
		next := nextSweep
		if l.lagging() {
			next = min(next, nextScan)
		}
		if len(l.waiting) > 0 {
			next = min(next, l.nextRead)
		}
		if len(l.lingering) > 0 {
			next = min(next, l.nextLinger)
		}
		timeout := int((next-monoNow())/int64(time.Millisecond)) + 1
		if timeout < 0 {
			timeout = 0
		}
		var err error
		events, err = l.poller.Wait(events[:0], timeout)
		if err != nil {
			l.log.Error("epoll wait", zap.Error(err))
			time.Sleep(10 * time.Millisecond) // do not spin on a broken poller
		}
		l.readWaiting(monoNow())
		for _, ev := range events {
			l.event(ev)
		}
		l.register()
		l.flushPending()
		now := monoNow()
		if now >= nextSweep {
			l.sweep(now)
			nextSweep = now + int64(tick)
		}
		if l.lingerSteps != nil && (now >= l.nextLinger || len(l.lingering) == 0) {
			l.checkLingering(now) // or lets go the entries of those dropped meanwhile
		}
		if l.lagging() && now >= nextScan {
			l.lagTick(now)
			nextScan = now + l.srv.lagCfg.tick
		}
		if l.stopped() {
			return
		}
	}
}

func (l *loop) event(ev netpoll.Event) {
	c := l.lookup(ev.Key, ev.Gen)
	if c == nil {
		return
	}
	if ev.Writable {
		l.flush(c)
	}
	if ev.Readable && l.conns[ev.Key] == c {
		l.read(c)
	}
}

// sweep pings every connection once a heartbeat, closes the silent ones
// with 4002 and drops those whose close outlived CloseTimeout.
func (l *loop) sweep(now int64) {
	ping := l.cadence.due(now, l.srv.lim.heartbeat)
	for _, c := range l.conns {
		if c != nil && c.sweep(now, ping) {
			l.drop(c)
		}
	}
	l.forgetReaders(now)
}

// stopped runs Shutdown's steps in the loop and says whether it is done.
func (l *loop) stopped() bool {
	l.mu.Lock()
	stopping, force := l.stopping, l.force
	l.mu.Unlock()
	if !stopping {
		return false
	}
	if force || !l.goingAway {
		l.goingAway = true // registrations from now on are closed in register
		for _, c := range l.conns {
			if c == nil {
				continue
			}
			if force {
				l.drop(c)
			} else {
				c.fail(ErrServerClosed) // a no-op when already closing
			}
		}
	}
	l.flushPending()
	if l.load.Load() > 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.incoming) > 0 || l.opening > 0 {
		return false
	}
	l.exited = true
	return true
}

// stop asks the loop to close its connections with 1001, or (force) to
// drop them now.
func (l *loop) stop(force bool) {
	l.mu.Lock()
	l.stopping = true
	l.force = l.force || force
	if !l.exited {
		l.wake()
	}
	l.mu.Unlock()
}

func (l *loop) closePoller() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exited = true
	// A loop that is gone writes nothing: its stamps must not keep a lag
	// that holds publishers back during shutdown, or grows for ever.
	l.lag.pending.Store(0)
	l.lag.pass.Store(0)
	l.lag.blocked.Store(0)
	l.lag.readers.Store(0)
	l.srv.release()
	if err := l.poller.Close(); err != nil {
		l.log.Error("close poller", zap.Error(err))
	}
}
