package broker

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

// workQueue is what a session's worker has to do: allocated when a job
// comes, dropped when the worker has emptied it.
type workQueue struct {
	jobs  []job
	bytes int // of the commands in jobs
	// closed is closed when the session closes; made by the first wait
	// of the worker's that must end with the session (closing), so that
	// a session that never waits makes none.
	closed chan struct{}
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
	claim   bool // server's subscriptions are the token's subs claim (markClaim)
	// paid is what the claim's topics were counted as the connection
	// opened (PaceSubs); nil: nothing to give back.
	paid *SubsCharge
}

// size is what the job holds in memory while it waits in a queue.
func (j *job) size() int {
	n := j.cmd.size()
	for _, t := range j.topics {
		n += len(t)
	}
	return n
}

// enqueueLocked queues j, counting its size, and starts the worker if
// none runs. It is called with mu held and unlocks it.
func (s *Session) enqueueLocked(j job) {
	s.pushLocked(j)
	s.startLocked()
}

// startLocked starts the worker on what is queued, unless one runs;
// it unlocks mu.
func (s *Session) startLocked() {
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start && !s.b.workers.start(s.work) {
		s.abandonQueue()
	}
}

// endSetUp ends OpenStream's setup of the session's subscriptions,
// starting the worker on a release queued meanwhile. OpenStream sets them
// up on its caller's goroutine, not the worker's, and holds the queue as
// a worker does (running) until then: a close meanwhile
// (closeOverlapping, as a fan-out finds the patterns set up so far past
// MaxMatchingPatterns) queued their release and started the worker,
// which ran beside the setup, both reading and writing the
// subscriptions' workerMarks.
func (s *Session) endSetUp() {
	s.mu.Lock()
	s.running = false
	if s.queue == nil || len(s.queue.jobs) == 0 {
		s.mu.Unlock()
		return
	}
	s.startLocked()
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
	for i, j := range jobs {
		s.giveBackDropped(&jobs[i])
		if j.release == nil && j.server == 0 {
			s.fail(j.cmd.echo(), Errorf(CodeUnavailable, "the server is shutting down"))
		}
	}
}

// giveBackDropped gives back what j was counted as it came, j being
// dropped without running: a client's subscribe's work, or the whole of
// what the subs claim's topics were counted.
func (s *Session) giveBackDropped(j *job) {
	s.giveBackPrepaid(&j.cmd, false)
	s.b.GiveBackSubs(j.paid)
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

// closing returns a channel closed when the session closes, or nil when
// it is closed already. Called by the worker, whose queue stays the
// session's until the worker ends or the session closes (disconnect
// closes the channel as it drops the queue).
func (s *Session) closing() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseClosed {
		return nil
	}
	if s.queue == nil {
		s.queue = new(workQueue)
	}
	if s.queue.closed == nil {
		s.queue.closed = make(chan struct{})
	}
	return s.queue.closed
}
