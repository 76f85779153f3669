package broker

import (
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A session's commands waiting for its worker are bounded in number by the
// rate limit's burst (so a burst the limit allows is never refused; with no
// rate limit, by maxQueuedUnlimited) and in bytes by maxQueuedBytes (a lone
// command always fits). Past either, a command is answered rate_limited
// and not run.
const (
	minQueuedCommands  = 32
	maxQueuedUnlimited = 1024
	maxQueuedBytes     = 1 << 20
)

// queueLimit is how many commands one session may have waiting.
func queueLimit(rateLimit int) int {
	if rateLimit < 0 {
		return maxQueuedUnlimited
	}
	return max(minQueuedCommands, RateBurst(rateLimit))
}

// maxFailures is how many failed commands in a row close the connection.
const maxFailures = 10

// Session is one client connection's state: its subscriptions and limits.
// It costs no goroutine while idle: a worker runs only while commands that
// need the engine are queued. An idle anonymous session is this struct
// alone (112 bytes, a size class): what only some sessions need, or only
// for a while, is behind a pointer that is nil otherwise.
type Session struct {
	b    *Broker
	conn Conn
	id   [16]byte

	mu sync.Mutex
	// subs lists the subscriptions through their next, so that a session
	// keeps no array of them; nsubs counts them (at most MaxSubscriptions).
	subs     *subscription
	nsubs    int32
	running  bool // a worker owns the queue
	closed   bool
	framing  Framing // fixed at Connect
	failures uint8   // failed commands in a row; beside the flags, in one word with nsubs
	limiter  rateLimiter
	remote   clientAddr // the client's address, for the refusals it is logged with
	who      *identity  // nil: anonymous, no token to expire or refresh; fixed at Connect
	queue    *workQueue // the commands waiting for the worker; nil while none are

	// pending holds, per topic whose subscribe waits for the subscribe
	// hook, that subscribe and then the commands of that topic that came
	// since (authorize.go); nil while none waits.
	pending map[string][]command
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

// workQueue is what a session's worker has to do: allocated when a job
// comes, dropped when the worker has emptied it.
type workQueue struct {
	jobs  []job
	bytes int // of the commands in jobs
}

// job is one unit of a session's worker: a decoded command (with the error
// found while decoding it, if any), the subscriptions to release after
// the connection went away, or a control (server) to apply to each of
// topics: a backend's, or the token's subs as the connection opens.
type job struct {
	cmd     command
	err     *Error
	release []*subscription
	server  ControlKind
	topics  []string
}

// size is what the job holds in memory while it waits in a queue.
func (j *job) size() int {
	n := j.cmd.size()
	for _, t := range j.topics {
		n += len(t)
	}
	return n
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
		s.enqueueServer(ControlSubscribe, info.Subs)
	}
	b.sessions.add(s) // controls find it once welcome is out
	b.reportConnected(s)
	return s
}

// newSession counts in a session on c, sending nothing yet.
func (b *Broker) newSession(c Conn, info ClientInfo) *Session {
	id, err := uuid.Parse(info.Session)
	if err != nil {
		id = uuid.New()
	}
	s := &Session{b: b, conn: c, id: id, remote: parseClientAddr(info.RemoteAddr), who: newIdentity(info, b.cfg.Tokens != nil)}
	if info.Framing.valid() {
		s.framing = info.Framing
	}
	b.stats.connections.Add(1)
	return s
}

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
	if s.closed {
		s.mu.Unlock()
		return
	}
	if !s.limiter.allow(now, s.b.cfg.RateLimit) {
		s.mu.Unlock()
		s.fail(cmd.ID, Errorf(CodeRateLimited, "more than %d commands a second", s.b.cfg.RateLimit))
		return
	}
	if !s.running && (derr != nil || cmd.Type == cmdPing) {
		s.mu.Unlock()
		s.run(job{cmd: cmd, err: derr})
		return
	}
	if derr == nil && (s.holdBehindPending(cmd) || s.authorizeFirst(&cmd, false)) {
		return
	}
	if n := s.queuedLocked(); n >= s.b.queueLimit || n > 0 && s.queuedBytesLocked()+cmd.size() > maxQueuedBytes {
		s.mu.Unlock()
		s.fail(cmd.ID, Errorf(CodeRateLimited, "too many commands waiting"))
		return
	}
	s.enqueueLocked(job{cmd: cmd, err: derr})
}

// enqueueLocked queues j, counting its size, and starts the worker if
// none runs. It is called with mu held and unlocks it.
func (s *Session) enqueueLocked(j job) {
	s.pushLocked(j)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start && !s.b.workers.start(s.work) {
		s.abandonQueue()
	}
}

// pushLocked queues j, counting its size, without starting the worker.
// Called with mu held.
func (s *Session) pushLocked(j job) {
	if s.queue == nil {
		s.queue = new(workQueue)
	}
	s.queue.jobs = append(s.queue.jobs, j)
	s.queue.bytes += j.size()
}

// abandonQueue answers what is queued when the broker is closing.
func (s *Session) abandonQueue() {
	s.mu.Lock()
	var jobs []job
	if s.queue != nil {
		jobs = s.queue.jobs
	}
	s.queue, s.running = nil, false
	s.mu.Unlock()
	for _, j := range jobs {
		if j.release == nil && j.server == 0 {
			s.fail(j.cmd.ID, Errorf(CodeUnavailable, "the server is shutting down"))
		}
	}
}

// work runs the queued jobs in order and ends when the queue is empty.
func (s *Session) work() {
	for {
		s.mu.Lock()
		if s.queuedLocked() == 0 {
			s.queue, s.running = nil, false
			s.mu.Unlock()
			return
		}
		w := s.queue
		j := w.jobs[0]
		w.jobs[0] = job{}
		w.jobs = w.jobs[1:]
		w.bytes -= j.size()
		s.mu.Unlock()
		s.run(j)
	}
}

// Disconnected tells the session its connection is gone; its subscriptions
// are dropped at once from the index, and released from the engine by the
// session's worker. Called once.
func (s *Session) Disconnected() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.setExpiry(time.Time{})
	subs := s.takeAllLocked()
	if s.queue != nil {
		subs = append(subs, releasesIn(s.queue.jobs)...)
	}
	s.queue = nil // commands not yet run are dropped, not releases
	s.mu.Unlock()
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
	if len(subs) == 0 {
		return
	}
	s.mu.Lock()
	s.enqueueLocked(job{release: subs})
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
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

// fail answers a failed command and closes the connection after
// maxFailures in a row; rate_limited and unavailable do not count.
func (s *Session) fail(id string, err *Error) {
	s.send(errorFrame(id, err))
	if err.Code == CodeRateLimited || err.Code == CodeUnavailable {
		return
	}
	if err.Code == CodeForbidden {
		s.refused(zap.DebugLevel, refusedForbidden, err.Message)
	}
	s.mu.Lock()
	if s.failures < math.MaxUint8 {
		s.failures++ // a uint8, saturating: a closing connection's queued commands fail on
	}
	tooMany := s.failures >= maxFailures
	first := s.failures == maxFailures // commands already queued fail on after the close
	s.mu.Unlock()
	if tooMany {
		s.conn.Close(CloseTooManyErrors, "too many failed commands")
	}
	if first {
		s.refused(zap.InfoLevel, closedTooManyErrors, err.Message)
	}
}

// RefusalLogger names the child logger that logs refusals, one line per
// refused request, connection or command, its message naming the kind:
// the broker's and the api's (api.refusals) alike. cmd/herald rate-limits
// the lines of loggers so named, per message.
const RefusalLogger = "refusals"

// The broker's refusals. A forbidden command is ordinary (a client tries
// what its token does not allow), so it is a debug line; a close is worth
// an info line.
const (
	refusedForbidden    = "refused: forbidden"
	closedTooManyErrors = "closed: too many failed commands" // 4003, CloseTooManyErrors
)

// refused logs one refusal of the session's client with the reason it was
// told (for a close, the last failure's). Nothing is built when the line
// would not be written.
func (s *Session) refused(level zapcore.Level, kind, reason string) {
	ce := s.b.refusals.Check(level, kind)
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.Stringer("client", s.remote), zap.String("reason", reason)}
	if subject := s.subject(); subject != "" {
		fields = append(fields, zap.String("subject", subject))
	}
	if kind == closedTooManyErrors {
		fields = append(fields, zap.Int("code", CloseTooManyErrors))
	}
	ce.Write(fields...)
}

func errorFrame(id string, err *Error) []byte {
	b := newFrame(64 + len(id) + len(err.Message))
	b = append(b, `{"type":"error"`...)
	b = appendID(b, id)
	b = appendField(b, "code", string(err.Code))
	b = appendField(b, "message", err.Message)
	return finishFrame(append(b, '}'))
}
