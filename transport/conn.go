package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// maxBatch is the most frames one write takes: IOV_MAX on Linux.
const maxBatch = 1024

// driver moves one connection's bytes: an epoll loop, or the goroutines of
// the portable path.
type driver interface {
	// schedule says c has frames to write. Called without c.mu held, once
	// per transition of c.scheduled from false to true.
	schedule(c *conn)
}

// deferringDriver is a driver that can take a connection to write without
// being woken at once: its part of a batch (queue.go) gathers the batch's
// connections and hands them over, waking it once for a whole fan-out.
type deferringDriver interface {
	driver
	deferral(b *broker.Batch) deferral
}

// limits are the per-connection settings, shared by every connection of a
// server.
type limits struct {
	maxText      int64         // largest text message: twice MaxMessageBytes
	maxQueue     int           // MaxQueueBytes
	closeTimeout time.Duration // a closing connection is gone after this
	heartbeat    time.Duration
	fragments    time.Duration // FragmentTimeout
	pace         broker.Rate   // how fast commands and pings are read (pace.go)
	stats        *counters     // the server's; shared here so that a conn carries no pointer more
}

// conn is one WebSocket connection. An idle one is this struct only: no
// buffer, no goroutine on the epoll path.
type conn struct {
	drv  driver
	recv Receiver // set once Open returns, before any read, under mu (conn.address reads it so)
	lim  *limits

	mu          sync.Mutex
	out         *outQueue // nil while nothing is queued and nothing was since the last sweep
	closing     bool      // Send takes nothing more
	closeQueued bool      // the close frame is in frames
	dropQueue   bool      // the queue overflowed: drop it at the next flush
	scheduled   bool      // the driver knows there is something to write
	finished    bool      // Disconnected was called
	sentSince   bool      // a frame was queued since the last sweep
	sse         bool      // an SSE stream (sse.go); set before Open, then fixed
	midEvent    bool      // a stream's written bytes end inside an event, or its head waits (sse.go)

	in        *frameReader // nil between frames; only the reading goroutine touches it
	lastHeard atomic.Int64 // monotonic time of the last complete frame
	msgSince  atomic.Int64 // monotonic start of an unfinished message (markUnfinished); 0: none
	// since bounds the age of the oldest queued frame (lag.go): set when
	// the queue goes non-empty, moved up by writes, 0 while it is empty.
	// Written under mu, read by the loop's lag scan without it.
	since    atomic.Int64
	progress int64 // monotonic time of the last write that moved bytes (loop goroutine only)
	fd       int32 // the epoll path's descriptor
	slot     int32 // its place in its loop's table (loop goroutine only)
	// kindData is an SSE stream's input bytes (sse.go, its reading
	// goroutine) or a WebSocket's reader baseline (probe_linux.go, its
	// loop): a stream is never probed, so the two share these 2 bytes and
	// the struct stays in its 128-byte size class.
	kindData uint16
	// fanned says a broker fan-out queued a frame since the writer's last
	// batch (probe_linux.go). Guarded by mu; kept here, beside the other
	// small fields, so that it costs no padding.
	fanned bool
	// peer is what came of the client's half of the closing handshake:
	// once it is not peerOpen and this side's close frame is out too,
	// the socket is closed. Guarded by mu; in the byte fanned leaves
	// free.
	peer    peerState
	gen     uint32 // tells this fd's events from a former owner's
	live    bool   // registered with its loop (loop goroutine only)
	blocked bool   // on its loop's list of connections waiting for EPOLLOUT (loop goroutine only)
	deflate bool   // permessage-deflate was negotiated; set before the first read
	// deafToProbes: a probe ping went unanswered for a whole stall
	// window; the loop watches c no more (loop goroutine only).
	deafToProbes bool
	// code is the close code the connection's close started with; 0
	// while none has. Last, beside the flags, so it costs no padding.
	code atomic.Int32
}

var _ broker.DeferredConn = (*conn)(nil)

var epoch = time.Now()

// monoNow is a monotonic clock in nanoseconds, cheap to store in an int64.
func monoNow() int64 { return int64(time.Since(epoch)) }

func newConn(drv driver, lim *limits) *conn {
	c := &conn{drv: drv, lim: lim}
	c.lastHeard.Store(monoNow())
	return c
}

// expired says whether c is closing and its CloseTimeout passed. It also
// frees the queue of a drained connection: a large array left by a burst
// at once, the queue itself once nothing was sent for a whole sweep. A
// busy connection keeps its queue between flushes (no allocation per
// message); an idle one costs no queue, and its next frame after an idle
// sweep allocates one. A closing one keeps its queue, which holds its
// deadline.
func (c *conn) expired(now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.out
	if q == nil {
		return false // closing makes a queue
	}
	if c.closing {
		return now > q.closeBy
	}
	if len(q.frames) == 0 {
		q.shrink()
		if !c.sentSince {
			c.out = nil
		}
	}
	c.sentSince = false
	return false
}

// sweep does a connection's periodic duties: close it with 1008 when a
// message (fragmented, or a frame that came in part) stayed unfinished
// for FragmentTimeout, with 4002 when
// nothing came for two heartbeats, ping it when ping is set. It reports
// whether the connection's close deadline passed, so the driver drops it.
func (c *conn) sweep(now int64, ping bool) (expired bool) {
	if c.expired(now) {
		return true
	}
	if c.sse {
		// An SSE client sends nothing: its silence says nothing.
		if ping {
			c.send(ssePing, serverFrame)
		}
		return false
	}
	if since := c.msgSince.Load(); since != 0 && now-since > int64(c.lim.fragments) {
		// Frames that keep coming (pings) do not excuse it: the message
		// pins up to twice MaxMessageBytes for as long as it is open.
		c.fail(ErrFragmentTimeout)
		return false
	}
	if now-c.lastHeard.Load() > 2*int64(c.lim.heartbeat) {
		c.fail(ErrHeartbeatTimeout)
		return false
	}
	if ping {
		c.ping()
	}
	return false
}

// directPinger is a driver that can write a heartbeat ping at once to an
// idle connection (the epoll loop, write_linux.go).
type directPinger interface {
	pingNow(c *conn) bool
}

// ping sends a heartbeat ping: written at once where the driver can, so
// that a heartbeat costs an idle connection no write queue (96 bytes of
// garbage per connection per heartbeat otherwise), and queued like any
// frame where it cannot, counted in the queue: a reader too slow for it
// is closed with 4000.
func (c *conn) ping() {
	if p, ok := c.drv.(directPinger); ok && p.pingNow(c) {
		return
	}
	c.send(framePing, serverFrame)
}

// pingCadence says which sweeps ping: one once three quarters of a
// heartbeat have passed since the last, so that with sweeps a quarter
// apart a ping goes out at least once a heartbeat (docs/protocol.md section 2).
// Each driver's sweeper keeps one.
type pingCadence struct{ last int64 }

func (p *pingCadence) due(now int64, heartbeat time.Duration) bool {
	if now-p.last < int64(heartbeat)*3/4 {
		return false
	}
	p.last = now
	return true
}
