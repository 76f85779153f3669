package transport

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Delivery lag: how long the oldest frame that the event loops could be
// writing has waited. When publishers outrun the loops (at maximum rate to
// thousands of subscribers the syscalls are the wall, ARCHITECTURE.md),
// queues grow up to MaxQueueBytes each and the wait in them turns into
// seconds. Wait holds publishers back while the lag is over
// MaxDeliveryLag, so they go at the rate the loops write and a message
// waits about the bound at most.
//
// What counts. A frame waits for one of two things:
//   - its loop's turn: the connection is on the loop's pending list, or in
//     the pass writing that list. The loop stamps the list when it goes
//     from empty to non-empty and carries the stamp into the pass; the
//     pass's stamp is older than any of its frames, so it bounds them.
//   - room in the socket: the last write stopped short (EAGAIN) and the
//     connection waits for EPOLLOUT. Each connection stamps its queue when
//     it goes from empty to non-empty (conn.since), and moves the stamp up
//     when a write took everything that was queued before it started; the
//     loop keeps the connections it left waiting (loop.blocked) and every
//     tick (an eighth of the bound) takes the largest lag among them.
//
//   - the readers: a frame written to the socket can wait in the kernel's
//     buffers, megabytes on both sides, for a reader slower than the
//     loop. Probe pings measure it (probe_linux.go): the median reader.
//
// A connection whose reader does not read must not hold back everybody:
// its answer is its own queue bound and close 4000 (docs/protocol.md section
// 6). A full socket alone cannot tell such a reader from a slow one that
// reads, so two rules do. A waiting connection counts with the age its
// oldest frame had at its last write that moved bytes, not with the age
// now: a reader that stops taking bytes stops adding to the lag, so one
// that stopped while it kept up never holds publishers back. And it
// counts only while that write is less than stallAfter old: a reader
// silent for as long as a publish may wait is left to its queue bound
// even when it stopped while behind. A reader that keeps taking bytes is
// waited for, and gets every message; the lag it reports is at most
// stallAfter stale. stallAfter is the wait limit at the configured bound
// (ten bounds, a second at least), so that a reader starved of CPU for
// less than a publish may wait is still waited for (with half the bound,
// 200 subscribers under the race detector were not, and overflowed their
// queues); a bound raised to the loops' pass lets a publish wait longer.

// Cost on the hot path: one clock read when a pending list goes from
// empty to non-empty, one per 64 queues a fan-out starts (their stamps
// may be a few microseconds early, never late), and one per write; no
// stamp per frame.
// The portable path (TLS, systems without epoll) is not measured.

// DefaultMaxDeliveryLag is the lag at which publishes start to wait
// (HERALD_MAX_DELIVERY_LAG), or the loops' longest recent pass when that is
// more (holdBound). Measured with herald-bench at maximum rate to 1,000 and
// 10,000 subscribers (BENCHMARKS.md, "Bounded delivery lag"): at 1,000,
// 30 ms gave 2.13-2.29 M deliveries a second at a p99 of 65 ms where
// 100 ms gave 2.38-2.45 M at 150 ms; at 10,000 the loops' passes, not the
// setting, set the bound.
const DefaultMaxDeliveryLag = 30 * time.Millisecond

// waitFactor bounds a publish's wait at this many times the bound, a
// second at least (minWait); past it the publish is refused with
// ErrOverloaded. A backlog of one bound's worth takes about one bound to
// write, so a publish that still waits after several is facing loops that
// do not catch up.
const waitFactor = 10

// minWait is the least a publish waits before it is refused, and the
// least time a waiting reader is counted without progress (stallAfter):
// a reader or a loop starved of CPU for a moment (a GC, a busy machine)
// must not turn a small bound into refusals.
const minWait = time.Second

// ErrOverloaded is Wait's answer when delivery stayed behind for the
// whole wait: nothing was published, the publisher may retry later.
var ErrOverloaded = errors.New("herald/transport: delivery is behind; retry later")

// lagSettings are derived from MaxDeliveryLag; a zero bound measures the
// lag but never waits.
type lagSettings struct {
	bound      int64 // MaxDeliveryLag in nanoseconds; 0: off
	stallAfter int64 // a waiting connection without progress for longer is not counted
	tick       int64 // how often a loop takes the oldest stamp of its waiting connections
	waitLimit  time.Duration
}

func newLagSettings(bound time.Duration) lagSettings {
	measured := bound // the lag is measured when publishers never wait, too
	if bound <= 0 {
		measured = DefaultMaxDeliveryLag
	}
	ls := lagSettings{
		stallAfter: int64(max(waitFactor*measured, minWait)),
		tick:       int64(max(measured/8, time.Millisecond)),
	}
	if bound > 0 {
		ls.bound, ls.waitLimit = int64(bound), max(waitFactor*bound, minWait)
	}
	return ls
}

// loopLag are one loop's stamps, monotonic nanoseconds (monoNow); 0 is
// none. Written by the loop (pending also by schedule and by a fan-out's
// Flush, under the loop's lock), read by Wait on any goroutine.
type loopLag struct {
	pending atomic.Int64 // the pending list went non-empty
	pass    atomic.Int64 // pending's stamp of the list being written now
	blocked atomic.Int64 // now-blocked is the largest lag of the counted waiting connections at the last scan
	readers atomic.Int64 // now-readers is the readers' lag at the last scan (probe_linux.go)
	// The loop's longest passes over its pending list: passLongest of
	// the window that began at passStart, passBefore of the one before
	// it. Written by the loop alone (notePass), read through passFloor.
	passStart   atomic.Int64
	passLongest atomic.Int64
	passBefore  atomic.Int64
}

// notePass records a pass over the pending list that took d and ended at
// now.
func (g *loopLag) notePass(now, d int64) {
	start, longest, before := g.passStart.Load(), g.passLongest.Load(), g.passBefore.Load()
	switch {
	case now-start >= 2*passWindow:
		start, longest, before = now, 0, 0
	case now-start >= passWindow:
		start, longest, before = now, 0, longest
	}
	g.passBefore.Store(before)
	g.passLongest.Store(max(longest, d))
	g.passStart.Store(start)
}

// passFloor is the longest of the loop's passes that ended in the last
// one to two windows at now: what notePass would keep with one more pass
// of no length. A loop with nothing to write makes no pass, and a pass it
// made before it went quiet (a burst, a stall) must not hold the bound up
// for as long as it stays so.
func (g *loopLag) passFloor(now int64) int64 {
	switch age := now - g.passStart.Load(); {
	case age >= 2*passWindow:
		return 0
	case age >= passWindow:
		return g.passLongest.Load()
	}
	return max(g.passLongest.Load(), g.passBefore.Load())
}

// oldest is the earliest of the stamps, or 0; the waiting connections'
// only when withBlocked.
func (g *loopLag) oldest(withBlocked bool) int64 {
	o := int64(0)
	blocked := int64(0)
	if withBlocked {
		blocked = g.blocked.Load()
	}
	for _, t := range [...]int64{g.pending.Load(), g.pass.Load(), blocked, g.readers.Load()} {
		if t != 0 && (o == 0 || t < o) {
			o = t
		}
	}
	return o
}

// lagAt is the server's delivery lag at now: the largest of its loops',
// counting the connections that wait for room in their socket only when
// withBlocked (see Wait).
func (s *Server) lagAt(now int64, withBlocked bool) time.Duration {
	var lag int64
	for _, l := range s.loops {
		if t := l.lag.oldest(withBlocked); t != 0 {
			lag = max(lag, now-t)
		}
	}
	return time.Duration(lag)
}

// DeliveryLag is how long the oldest frame the event loops could be
// writing has waited now (see "What counts" above).
func (s *Server) DeliveryLag() time.Duration { return s.lagAt(monoNow(), true) }

// ReaderLag is the largest of the loops' reader lags now (probe_linux.go).
func (s *Server) ReaderLag() time.Duration {
	now := monoNow()
	var lag int64
	for _, l := range s.loops {
		if t := l.lag.readers.Load(); t != 0 {
			lag = max(lag, now-t)
		}
	}
	return time.Duration(lag)
}

// Wait returns nil at once while the delivery lag is within
// MaxDeliveryLag and no other node behind is busy with topic
// (SetOthersBehind). Otherwise it waits until both hold, and returns nil
// then; ErrOverloaded when they do not within waitFactor times the bound;
// or ctx's error when ctx ends first. It is the broker's Backpressure,
// called before a publish is handed to the engine. It allocates nothing
// when it does not wait.
//
// Wait follows the loops' own backlog and the median reader, not the
// connections waiting for room in their socket: one reader that keeps
// reading but stays behind (the rules above count it) would otherwise hold
// every publisher of the node, and, since the held publishes are what
// would fill its queue, never meet its own bound and close 4000. Slow
// readers are answered one by one, by their queue bound; only when most
// readers are behind do publishers wait for them. The node's own lag
// holds publishes to every topic: its loops are shared by all of them.
func (s *Server) Wait(ctx context.Context, topic string) error {
	ls := &s.lagCfg
	if ls.bound == 0 || !s.held(topic) {
		return nil
	}
	s.stats.publishWaits.Add(1)
	limit := time.NewTimer(max(ls.waitLimit, waitFactor*time.Duration(s.holdBound(monoNow()))))
	defer limit.Stop()
	for {
		gate, opened := s.holdOn(topic)
		if gate == nil {
			return nil
		}
		select {
		case <-opened:
			gate.waiting.Add(-1)
		case <-limit.C:
			gate.waiting.Add(-1)
			s.stats.publishRefused.Add(1)
			return ErrOverloaded
		case <-ctx.Done():
			gate.waiting.Add(-1)
			s.stats.publishRefused.Add(1)
			return ctx.Err()
		}
	}
}

// holdOn returns the gate whose opening a publish to topic waits for now,
// entered (its waiting count raised), and the channel that opening
// closes; nil when nothing holds the publish. A hold can only end by
// something that opens its gate if it has waiters (release,
// SetOthersBehind): the gate is entered before its hold is checked, so no
// opening between the two is missed.
func (s *Server) holdOn(topic string) (*lagGate, <-chan struct{}) {
	if opened := s.othersGate.enter(); s.othersBehind.Load().holds(topic) {
		return &s.othersGate, opened
	}
	s.othersGate.waiting.Add(-1)
	if opened := s.gate.enter(); s.Behind() {
		return &s.gate, opened
	}
	s.gate.waiting.Add(-1)
	return nil, nil
}

// held says whether a publish to topic waits now: this node's delivery
// is behind (Behind), or another node of the cluster that is behind
// delivers topic (SetOthersBehind).
func (s *Server) held(topic string) bool { return s.othersBehind.Load().holds(topic) || s.Behind() }

// Behind says whether this node's own delivery is behind its bound: the
// lag Wait follows, without other nodes' word. A cluster tells the other
// nodes (internal/node).
func (s *Server) Behind() bool {
	now := monoNow()
	bound := s.holdBound(now)
	return bound != 0 && int64(s.lagAt(now, false)) > bound
}

// holdBound is the lag past which publishers wait at now: MaxDeliveryLag,
// or the longest recent pass of a loop over its pending list when that is
// more; 0 when publishers never wait. A frame waits for its connection's
// turn in such a pass whatever the publishers do, so a lag under it
// cannot be had by holding them: held under it, they only make each
// write carry fewer frames, which costs throughput and gains little
// latency. At maximum rate to 10,000 subscribers of one topic on two
// cores the longest pass of each second took 79-142 ms, to 1,000 13-26 ms:
// a bound that suits the one starves the other (BENCHMARKS.md, "Bounded
// delivery lag").
func (s *Server) holdBound(now int64) int64 {
	bound := s.lagCfg.bound
	if bound == 0 {
		return 0
	}
	for _, l := range s.loops {
		bound = max(bound, l.lag.passFloor(now))
	}
	return bound
}

// passWindow is how long a loop remembers its longest pass: the floor
// comes down within two windows of the passes getting shorter.
const passWindow = int64(time.Second)

// release wakes the publishers waiting for this node's own delivery when
// they may go now. Whatever can end that hold calls it once it did its
// part: a loop's pass over its pending list, its lag tick, a loop's exit.
// Each of those happens often while a node is busy (a pass for every
// client command answered), and waking every waiter to find itself held
// still cost, with 2,000 waiting publishers and one client sending a
// command every 100 µs, more than a core; release checks once for all of
// them. Publishers held by other nodes wait at their own gate
// (SetOthersBehind).
func (s *Server) release() {
	if s.gate.waiting.Load() > 0 && !s.Behind() {
		s.gate.open()
	}
}

// LagBound is MaxDeliveryLag as the server applies it; 0: publishers never wait.
func (s *Server) LagBound() time.Duration { return time.Duration(s.lagCfg.bound) }

// LagTick is how often the loops take the lag of their waiting
// connections: an eighth of the bound, a millisecond at least.
func (s *Server) LagTick() time.Duration { return time.Duration(s.lagCfg.tick) }

// lagGate wakes waiting publishers when they may go (Server.release,
// SetOthersBehind). A loop with no waiter pays one atomic load.
type lagGate struct {
	waiting atomic.Int32 // publishers that may be waiting for the next open
	mu      sync.Mutex
	ch      chan struct{} // closed by open; nil until a waiter asks
}

// enter counts one more waiter and returns the channel the next open
// closes; the waiter takes its count back (waiting.Add(-1)) once it no
// longer waits for that channel.
func (g *lagGate) enter() <-chan struct{} {
	g.waiting.Add(1)
	return g.next()
}

// next is the channel the next open closes.
func (g *lagGate) next() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

// open wakes every waiter, which then checks the lag again.
func (g *lagGate) open() {
	if g.waiting.Load() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

var _ broker.Backpressure = (*Server)(nil)
