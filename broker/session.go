package broker

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// Session is one client connection's state: its subscriptions and limits.
// It costs no goroutine while idle: a worker runs only while commands that
// need the engine are queued. An idle anonymous session is this struct
// alone (128 bytes, a size class; 112 before its address's command
// budget, which every session of a node with one needs): what only some
// sessions need, or only for a while, is behind a pointer that is nil
// otherwise.
type Session struct {
	b    *Broker
	conn Conn
	id   [16]byte

	mu sync.Mutex
	// subs lists the subscriptions through their next, so that a session
	// keeps no array of them; nsubs counts them (at most MaxSubscriptions).
	// Past subIndexFrom they are found through an index (sublist.go).
	subs     *subscription
	nsubs    int32
	running  bool // a worker owns the queue
	phase    sessionPhase
	framing  Framing // fixed at Connect
	failures uint8   // failed commands in a row; beside the flags, in one word with nsubs
	limiter  rateLimiter
	remote   clientAddr   // the client's address, for the refusals it is logged with
	pacer    AddressPacer // the command budget of the client's address; nil: none
	who      *identity    // nil: anonymous, no token to expire or refresh; fixed at Connect
	queue    *workQueue   // the commands waiting for the worker; nil while none are

	// extra holds what a session needs only for a while: the commands
	// that wait for the subscribe hook, the index of its subscriptions
	// while it holds many; nil while it needs neither.
	extra *sessionExtra
}

// identity is what a client with a token is known by. Its subject is
// fixed; the rest is guarded by the session's mu and changed by refresh.
type identity struct {
	subject string
	info    string // the token's info claim (ClientInfo.Info); a string, to stay in a smaller size class
	perms   Permissions
	// expires is when the token expires, in Unix nanoseconds, and slot
	// the session's place + 1 in the broker's expiries (0: none); both
	// guarded by the expiries' lock.
	expires int64
	slot    int32
}

// Connect starts a session on c and sends it the welcome message.
func (b *Broker) Connect(c Conn, info ClientInfo) *Session {
	s := b.newSession(c, info)
	s.send(s.welcome())
	if !info.Expires.IsZero() {
		s.mu.Lock()
		s.setExpiry(info.Expires)
		s.mu.Unlock()
	}
	if len(info.Subs) > 0 { // before any command: the queue is empty
		s.enqueueClaim(info.Subs, info.SubsPaid)
	}
	b.list(s) // controls find it once welcome is out
	return s
}

// sessionPhase is where a session is in its life; guarded by its mu.
type sessionPhase uint8

const (
	// phaseOpening: not yet found by the backend's controls nor reported
	// connected; a WebSocket inside Connect, an SSE stream before Start.
	phaseOpening sessionPhase = iota
	// phaseListed: found by controls, and reported connected.
	phaseListed
	// phaseClosed: Disconnected ran.
	phaseClosed
)

// list lets the backend's controls find s and reports it connected,
// unless it was closed while it opened: the subscriptions of an SSE
// stream, or of a token's subs claim, take messages before Connect or
// Start returns, and closeOverlapping may end the session then. Such a
// session is neither listed nor reported, nor is its end, so that no
// end is reported before its start and none is left listed for good.
func (b *Broker) list(s *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseClosed {
		return
	}
	s.phase = phaseListed
	b.sessions.add(s) // under mu: Disconnected's remove comes after
	b.reportConnected(s)
}

// newSession counts in a session on c, sending nothing yet.
func (b *Broker) newSession(c Conn, info ClientInfo) *Session {
	id, err := uuid.Parse(info.Session)
	if err != nil {
		id = uuid.New()
	}
	s := &Session{b: b, conn: c, id: id, remote: parseClientAddr(info.RemoteAddr), pacer: info.Pacer, who: newIdentity(info, b.cfg.Tokens != nil)}
	if info.Framing.valid() {
		s.framing = info.Framing
	}
	b.stats.connections.Add(1)
	return s
}

// AddressPacer is the budget of the client's address the session was
// opened with (ClientInfo.Pacer); nil: none. The transport reaches the
// address's other budgets through it.
func (s *Session) AddressPacer() AddressPacer { return s.pacer }

// ID returns the session's uuid as sent in welcome.
func (s *Session) ID() string {
	return uuid.UUID(s.id).String()
}

func (s *Session) welcome() []byte {
	b := newFrame(128)
	b = append(b, `{"type":"welcome"`...)
	b = appendField(b, "session", s.ID())
	b = appendField(b, "node", s.b.cfg.NodeID)
	// Whole seconds, rounded up: a heartbeat under a second must not be
	// announced as 0 (no heartbeat); pings still come at least that often.
	b = appendUintField(b, "heartbeat", uint64((s.b.cfg.Heartbeat+time.Second-1)/time.Second))
	return finishFrame(append(b, '}'))
}

// setExpiry closes the connection with 4001 at expires; zero never. Called
// with mu held. The broker's expiries keep the deadline, so that Close
// forgets it; a closed broker closes no connection for its token.
func (s *Session) setExpiry(expires time.Time) {
	if s.who == nil { // no token: nothing expires
		return
	}
	var at int64
	if !expires.IsZero() {
		at = max(expires.UnixNano(), 1) // 0 is never
	}
	s.b.expiries.set(s, at)
}

// HandleText takes one complete text message from the client. payload is
// valid only during the call. It never blocks on the engine: the rate
// limit and the decoding run here, a command that needs no engine runs
// here while nothing is queued, and everything else goes to the session's
// worker, in order.
func (s *Session) HandleText(payload []byte) {
	cmd, derr := decodeCommand(payload)
	now := time.Now().UnixNano()
	s.mu.Lock()
	if s.phase == phaseClosed {
		s.mu.Unlock()
		return
	}
	if v := s.paceLocked(now); v != paceAllowed {
		s.mu.Unlock()
		s.fail(cmd.echo(), s.rateLimitedError(v))
		return
	}
	if derr == nil && cmd.Type == cmdSubscribe && !s.queueFullLocked(&cmd) {
		s.prepaySubscribeLocked(&cmd, now)
	}
	if !s.running && (derr != nil || cmd.Type == cmdPing) {
		s.mu.Unlock()
		s.run(job{cmd: cmd, err: derr})
		return
	}
	if derr == nil && (s.holdBehindPending(cmd) || s.authorizeFirst(&cmd, false)) {
		return
	}
	if s.queueFullLocked(&cmd) {
		s.mu.Unlock()
		s.giveBackPrepaid(&cmd, false)
		s.fail(cmd.echo(), Errorf(CodeRateLimited, "too many commands waiting"))
		return
	}
	s.enqueueLocked(job{cmd: cmd, err: derr})
}

// queueFullLocked reports whether cmd would be refused for want of room
// in the queue. Called with mu held.
func (s *Session) queueFullLocked(cmd *command) bool {
	n := s.queuedLocked()
	return n >= s.b.queueLimit || n > 0 && s.queuedBytesLocked()+cmd.size() > maxQueuedBytes
}

// Disconnected tells the session its connection is gone; its subscriptions
// are dropped at once from the index, and released from the engine by the
// session's worker. Calls after the first do nothing.
func (s *Session) Disconnected() { s.disconnect() }

// disconnect is Disconnected, reporting whether this call ended the
// session, and whether it was listed then: of the calls that run at
// once, only the one that ended it may report its end (DisconnectedWith).
func (s *Session) disconnect() (ended, listed bool) {
	s.mu.Lock()
	if s.phase == phaseClosed {
		s.mu.Unlock()
		return false, false
	}
	listed = s.phase == phaseListed
	s.phase = phaseClosed
	s.setExpiry(time.Time{})
	subs := s.takeAllLocked()
	held := len(subs)
	var dropped []job
	if s.queue != nil {
		subs = append(subs, releasesIn(s.queue.jobs)...)
		dropped = s.queue.jobs
		if s.queue.closed != nil {
			close(s.queue.closed) // the worker's wait ends (closing)
		}
	}
	s.queue = nil // commands not yet run are dropped, not releases
	s.mu.Unlock()
	for i := range dropped {
		s.giveBackDropped(&dropped[i])
	}
	s.chargeClose(held)
	s.b.sessions.remove(s)
	s.b.stats.connections.Add(-1)
	if s.framing == FramingSSE {
		s.b.stats.streams.Add(-1)
	}
	// Out of the index first, so that fan-out stops at once; mu is not
	// held because fan-out takes it under the index lock.
	for _, sub := range subs {
		s.b.unindex(sub)
	}
	if len(subs) != 0 {
		s.mu.Lock()
		s.enqueueLocked(job{release: subs})
	}
	return true, listed
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase == phaseClosed
}

// send queues one plain text frame of this package on the connection, in
// the session's framing.
func (s *Session) send(frame []byte) bool {
	return s.conn.Send(s.framed(frame))
}

// succeed records a command that worked.
func (s *Session) succeed() {
	s.mu.Lock()
	s.failures = 0
	s.mu.Unlock()
}
