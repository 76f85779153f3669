package broker

import (
	"context"
	"errors"
	"slices"
)

// maxAuthorizing bounds the subscriptions of one session waiting for the
// subscribe hook at once; past it a subscribe is answered rate_limited.
// With the hook's own bound on requests in flight, a client that floods
// subscribes costs the backend at most this many requests at a time.
const maxAuthorizing = 16

// maxHeldPerTopic bounds the commands of one topic held behind its
// subscribe while that waits for the hook; past it, rate_limited. What
// they all hold, with the subscribes that wait, is bounded in bytes by
// maxQueuedBytes besides (a lone subscribe always fits).
const maxHeldPerTopic = 8

// asksHook reports whether a subscription to pattern waits for the
// subscribe hook, and whether the hook's yes replaces the permissions.
func (b *Broker) asksHook(pattern string) (ask, replacesPerms bool) {
	if b.cfg.Subscribe == nil {
		return false, false
	}
	return b.cfg.Subscribe.Asks(pattern)
}

// authorizeFirst takes a subscribe that asks the subscribe hook: the hook
// is asked on a goroutine of the broker's workers, so that a slow backend
// delays this subscription only, never the session's other commands, its
// event loop or other sessions; on a yes the subscribe joins the
// session's queue like any command. It reports false when the command is
// not such a subscribe and must go the ordinary way. fromQueue: c is run
// by the worker, and the commands of its topic queued behind it are held
// behind it too. Called with mu held; it unlocks it when it reports true.
func (s *Session) authorizeFirst(c *command, fromQueue bool) bool {
	if c.Type != cmdSubscribe {
		return false
	}
	if s.findLocked(c.Topic) != nil || !fromQueue && s.topicQueuedLocked(c.Topic) {
		// A subscription the session holds is answered as it is; behind a
		// command of its topic still queued, the subscribe keeps its place
		// and is checked again when it runs (hookAfterAll), as that
		// command may end or make the subscription.
		c.skippedHook = true
		return false
	}
	ask, replaces := s.b.asksHook(c.Topic)
	if !ask {
		return false
	}
	if perms := s.permsLocked(); !replaces && perms != nil && !perms.CanSubscribe(c.Topic) {
		s.mu.Unlock()
		s.giveBackPrepaid(c, false)
		s.fail(c.echo(), Errorf(CodeForbidden, "not allowed to subscribe to %q", c.Topic))
		return true
	}
	if len(s.pendingLocked()) >= maxAuthorizing {
		s.mu.Unlock()
		s.giveBackPrepaid(c, false)
		s.fail(c.echo(), Errorf(CodeRateLimited, "more than %d subscriptions waiting for the backend", maxAuthorizing))
		return true
	}
	if len(s.pendingLocked()) > 0 && s.heldBytesLocked()+c.size() > maxQueuedBytes {
		s.mu.Unlock()
		s.giveBackPrepaid(c, false)
		s.fail(c.echo(), Errorf(CodeRateLimited, "too many commands waiting for the backend"))
		return true
	}
	x := s.extraLocked()
	if x.pending == nil {
		x.pending = make(map[string][]command)
	}
	x.pending[c.Topic] = []command{*c} // first the subscribe that waits, counted in heldBytesLocked
	if fromQueue {
		x.pending[c.Topic] = append(x.pending[c.Topic], s.takeQueuedLocked(c.Topic)...)
	}
	req := s.subscribeRequest(c.Topic)
	s.mu.Unlock()
	asked := *c
	asked.permsWaived = replaces
	if !s.b.workers.start(func() { s.authorized(asked, s.b.authorizeSubscribe(s.b.ctx, req)) }) {
		s.authorized(asked, Errorf(CodeUnavailable, "the server is shutting down"))
	}
	return true
}

// hookAfterAll runs on the worker a subscribe that skipped the hook on
// arrival because the session held its topic or had a command of it
// queued. If an unsubscribe queued ahead of it (the client's, or a
// backend's) ended that subscription, the subscribe would otherwise make
// a new one the hook never saw: it goes to the hook as a first subscribe
// does, without blocking the worker, and the commands of its topic queued
// behind it wait for the answer. No subscribe of its topic can have gone
// to the hook since it arrived, so it holds its place. It reports false
// when c still finds its topic held, or the hook does not cover it, and
// must run as usual.
func (s *Session) hookAfterAll(c *command) bool {
	c.skippedHook = false
	s.mu.Lock()
	if s.findLocked(c.Topic) != nil {
		s.mu.Unlock()
		return false
	}
	if s.holdBehindPending(*c) || s.authorizeFirst(c, true) {
		return true
	}
	s.mu.Unlock()
	return false
}

// topicQueuedLocked reports whether the worker's queue holds a command
// that subscribes or unsubscribes topic: the client's, a hook's answer,
// or a backend's order. Called with mu held.
func (s *Session) topicQueuedLocked(topic string) bool {
	if s.queue == nil {
		return false
	}
	for _, j := range s.queue.jobs {
		if j.release != nil {
			continue
		}
		if j.server != 0 {
			if slices.Contains(j.topics, topic) {
				return true
			}
			continue
		}
		if j.cmd.Topic == topic && (j.cmd.Type == cmdSubscribe || j.cmd.Type == cmdUnsubscribe) {
			return true
		}
	}
	return false
}

// takeQueuedLocked takes out of the worker's queue the client's
// subscribes and unsubscribes of topic, in order, to be held behind a
// subscribe of it that waits for the hook: an unsubscribe sent after
// that subscribe still ends it. Called with mu held.
func (s *Session) takeQueuedLocked(topic string) []command {
	if s.queue == nil {
		return nil
	}
	var taken []command
	kept := s.queue.jobs[:0]
	for _, j := range s.queue.jobs {
		if c, ok := heldForm(j, topic); ok {
			s.queue.bytes -= j.size()
			taken = append(taken, c)
			continue
		}
		kept = append(kept, j)
	}
	clear(s.queue.jobs[len(kept):])
	s.queue.jobs = kept
	return taken
}

// holdBehindPending holds a subscribe or unsubscribe of a topic whose
// subscribe waits for the hook, to run right after it: the commands of
// one topic keep their order (an unsubscribe sent after a subscribe ends
// it), while other topics' go on. Called with mu held; it unlocks it when
// it reports true.
func (s *Session) holdBehindPending(c command) bool {
	if c.Type != cmdSubscribe && c.Type != cmdUnsubscribe {
		return false
	}
	held, pending := s.pendingLocked()[c.Topic]
	if !pending {
		return false
	}
	if clientHeld(held) > maxHeldPerTopic || s.heldBytesLocked()+c.size() > maxQueuedBytes {
		s.mu.Unlock()
		s.giveBackPrepaid(&c, false)
		s.fail(c.echo(), Errorf(CodeRateLimited, "too many commands for %q waiting for the backend", c.Topic))
		return true
	}
	s.extra.pending[c.Topic] = append(held, c)
	s.mu.Unlock()
	return true
}

// heldBytesLocked is the size of the subscribes waiting for the hook and
// of the commands held behind them. Called with mu held.
func (s *Session) heldBytesLocked() int {
	n := 0
	for _, held := range s.pendingLocked() {
		for i := range held {
			n += held[i].size()
		}
	}
	return n
}

// authorizeSubscribe asks the hook within ctx and the command timeout.
func (b *Broker) authorizeSubscribe(ctx context.Context, r SubscribeRequest) *Error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	err := b.cfg.Subscribe.AuthorizeSubscribe(ctx, r)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && (e.Code == CodeForbidden || e.Code == CodeUnavailable || e.Code == CodeRateLimited) {
		return e
	}
	return &Error{Code: CodeUnavailable, Message: "the backend could not be asked", Err: err}
}

// subscribeRequest is what the subscribe hook is asked about topic.
func (s *Session) subscribeRequest(topic string) SubscribeRequest {
	return SubscribeRequest{Session: s.ID(), User: s.subject(), Topic: topic, Client: s.remote.addr()}
}

// authorized queues an accepted subscribe, or the answer to a refused
// one, and after it the commands of its topic held meanwhile: a subscribe
// again gets the same answer, an unsubscribe runs as usual, a backend's
// order as it would have. A subscribe sent after a backend's order is a
// new one: it finds the topic held or asks the hook, as on arrival.
func (s *Session) authorized(c command, err *Error) {
	s.mu.Lock()
	held := s.pendingLocked()[c.Topic]
	if len(held) > 0 {
		held = held[1:] // the subscribe that waited is c
	}
	if x := s.extra; x != nil {
		delete(x.pending, c.Topic)
		if len(x.pending) == 0 {
			x.pending = nil // an idle session keeps no map
			s.trimExtraLocked()
		}
	}
	if s.phase == phaseClosed {
		s.mu.Unlock()
		s.giveBackPrepaid(&c, false) // none of them runs
		for i := range held {
			s.giveBackPrepaid(&held[i], false)
		}
		return
	}
	jobs := []job{{cmd: c, err: err}}
	afterControl := false
	for _, h := range held {
		switch {
		case h.server:
			afterControl = true
			jobs = append(jobs, job{server: controlKind(h.Type), topics: []string{h.Topic}})
		case h.Type == cmdSubscribe && afterControl:
			h.skippedHook = true // see hookAfterAll
			jobs = append(jobs, job{cmd: h})
		case h.Type == cmdSubscribe:
			h.permsWaived = c.permsWaived
			jobs = append(jobs, job{cmd: h, err: err})
		default:
			jobs = append(jobs, job{cmd: h})
		}
	}
	for _, j := range jobs[:len(jobs)-1] {
		s.pushLocked(j)
	}
	s.enqueueLocked(jobs[len(jobs)-1])
}

// hookWaives reports whether the subscribe hook's yes stands in for the
// permissions on pattern, so that a refresh keeps such a subscription.
func (s *Session) hookWaives(pattern string) bool {
	_, replaces := s.b.asksHook(pattern)
	return replaces
}

// authorizeStream asks the subscribe hook about each topic a stream asked
// for that it covers, one after another within ctx: the request that
// opens the stream waits for the answers, and a refusal refuses it
// (docs/protocol.md section 10: 403 forbidden, or 503 unavailable).
func (s *Session) authorizeStream(ctx context.Context, topics []string) *Error {
	for _, t := range topics {
		if ask, _ := s.b.asksHook(t); !ask {
			continue
		}
		if err := s.b.authorizeSubscribe(ctx, s.subscribeRequest(t)); err != nil {
			return err.aboutTopic(t)
		}
	}
	return nil
}
