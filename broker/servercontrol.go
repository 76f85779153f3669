package broker

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// Server-side control (docs/protocol.md section 9): a backend's order goes
// through the engine to every node, whose HandleControl applies it to the
// sessions it names. Closing needs no engine and happens at once; a
// subscribe or unsubscribe runs on the session's worker, in order with
// its client's commands.

// reasonServer is the reason of an unsubscribed sent when a backend ended
// the subscription.
const reasonServer = "server"

// Control checks c and hands it to the engine, which gives it to every
// node's HandleControl, this one's included. Naming nobody connected is
// not an error. Errors are *Error.
func (b *Broker) Control(ctx context.Context, c Control) error {
	if err := checkControl(c); err != nil {
		return err
	}
	if err := b.engine.Control(ctx, c); err != nil {
		return b.replyError(err)
	}
	return nil
}

// CheckControl returns why c cannot be sent, or nil: the one check of a
// control, which the engines run again on what they receive. The error is
// *Error.
func CheckControl(c Control) error {
	if err := checkControl(c); err != nil {
		return err
	}
	return nil
}

func checkControl(c Control) *Error {
	if (c.User == "") == (c.Session == "") {
		return Errorf(CodeBadRequest, "give exactly one of user and session")
	}
	switch c.Kind {
	case ControlDisconnect:
		return nil
	case ControlSubscribe, ControlUnsubscribe:
		return patternError(c.Topic)
	}
	return Errorf(CodeBadRequest, "unknown control %d", c.Kind)
}

// HandleControl applies a backend's control to this node's sessions. It
// never waits: a close is queued on the connection, and a subscribe or
// unsubscribe on the session's worker, or dropped (and logged) when the
// session already has as many commands waiting as it may.
func (b *Broker) HandleControl(c Control) {
	if err := checkControl(c); err != nil {
		b.log.Warn("control ignored", zap.Error(err))
		return
	}
	for _, s := range b.sessions.find(c.User, c.Session) {
		if c.Kind == ControlDisconnect {
			s.conn.Close(CloseDisconnected, "disconnected by the backend")
			continue
		}
		if !s.enqueueServer(c.Kind, []string{c.Topic}) {
			b.log.Warn("control dropped: the session has too many commands waiting",
				zap.String("session", s.ID()), zap.String("topic", c.Topic))
		}
	}
}

// enqueueServer queues a control of kind for each of topics on the
// session's worker, or, for one topic whose subscribe waits for the hook,
// behind that subscribe, to keep its place among the client's commands
// of the topic. False when the session is closed or its queue full: it
// holds as many jobs as a connection may have subscriptions, beside its
// client's burst, so that a backend subscribing a user to many topics at
// once is not cut short, and a flood of orders still has a bound. The
// client's commands held behind the hook have their own bounds and count
// for none of it, so that a client cannot crowd out the orders that end
// its subscriptions.
func (s *Session) enqueueServer(kind ControlKind, topics []string) bool {
	return s.enqueueControl(job{server: kind, topics: topics})
}

// enqueueClaim queues the subscriptions of the connection's subs claim,
// as its first job: they are the token's, which its client may resume
// (markClaim). paid is what they were counted as the connection opened
// (PaceSubs), given back for each topic not set up.
func (s *Session) enqueueClaim(topics []string, paid *SubsCharge) {
	if paid != nil {
		topics = paid.topics
	}
	if !s.enqueueControl(job{server: ControlSubscribe, topics: topics, claim: true, paid: paid}) {
		s.b.GiveBackSubs(paid)
	}
}

// enqueueControl is enqueueServer of the job j.
func (s *Session) enqueueControl(j job) bool {
	kind, topics := j.server, j.topics
	s.mu.Lock()
	if s.phase == phaseClosed || s.queuedLocked()+s.heldServerLocked() >= s.b.queueLimit+s.b.cfg.MaxSubscriptions {
		s.mu.Unlock()
		return false
	}
	if j.paid == nil && len(topics) == 1 && s.holdControlLocked(kind, topics[0]) {
		s.mu.Unlock()
		return true
	}
	s.enqueueLocked(j)
	return true
}

// applyControl runs a control job on the session's worker, one topic after
// another, each with its own deadline. What fails is logged: the backend
// was answered already, and the client asked for nothing. Each topic of
// a subs claim is settled as its subscribe ends (settleSub): one not
// made, the session closed or the engine unavailable, is given back what
// it was counted as the connection opened.
func (s *Session) applyControl(j *job) {
	for i, topic := range j.topics {
		switch j.server {
		case ControlSubscribe:
			made, joined, err := s.serverSubscribe(topic, j.claim)
			s.b.settleSub(j.paid, i, made, joined)
			if err != nil {
				s.serverSubscribeFailed(j.claim, topic, err)
			}
		case ControlUnsubscribe:
			ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CommandTimeout)
			s.serverUnsubscribe(ctx, topic)
			cancel()
		}
	}
}

// serverSubscribeFailed logs a server subscription to topic that failed
// with err. One of a subs claim refused for its client's bounds (too many
// subscriptions on the connection or from its address) is the client's
// doing: a token of 1,000 topics presented again by an address holding
// its subscriptions' bound wrote 1,000 warnings a connection, at the
// connect rate, the topics not set up being given back to its budget. It
// is a refusal, whose lines cmd/herald rate-limits per kind. A backend's
// order, or a failure of the node or its engine, stays a warning.
func (s *Session) serverSubscribeFailed(claim bool, topic string, err *Error) {
	if !claim || err.Code == CodeInternal || err.Code == CodeUnavailable {
		s.b.log.Warn("server subscription failed", zap.String("session", s.ID()),
			zap.String("topic", topic), zap.Error(err))
		return
	}
	s.refused(zap.InfoLevel, refusedClaimTopic, err.Message, zap.String("topic", topic))
}

// serverRetryFor is how long a subscription a backend or a subs claim
// made keeps being tried while the engine answers unavailable: nobody
// else would try again (the backend had its {}), and a Cluster node may
// take up to its 5 s slot map reload to find a promoted master.
const serverRetryFor = 6 * time.Second

// serverSubscribe makes a server subscription to topic, trying again with
// backoff while the engine is unavailable, for serverRetryFor at most or
// until the session closes: its pause ends then too, so that the worker
// goes on at once to release the session's subscriptions from the engine
// (and Close, which waits for the workers, is not held up). A failed try subscribes nothing, so trying
// again is safe. It reports whether the session holds the subscription
// at the end (made), and whether any try joined the topic's presence, its
// entry recorded or maybe recorded (joined). A server subscribe is
// counted nothing as it comes (its command has no prepaid), so it runs
// subscribeNew, which gives nothing back.
func (s *Session) serverSubscribe(topic string, claim bool) (made, joined bool, _ *Error) {
	deadline := time.Now().Add(serverRetryFor)
	backoff := 25 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CommandTimeout)
		tried, err := s.subscribeNew(ctx, &command{Type: cmdSubscribe, Topic: topic, hasTopic: true, server: true, claim: claim})
		cancel()
		made, joined = tried.made, joined || tried.joined
		backoff = min(2*backoff, time.Second)
		wait := backoff/2 + rand.N(backoff/2)
		if err == nil || err.Code != CodeUnavailable || time.Now().Add(wait).After(deadline) {
			return made, joined, err
		}
		closed := s.closing()
		if closed == nil {
			return made, joined, err
		}
		select {
		case <-s.b.pause(wait):
		case <-closed:
			return made, joined, err
		case <-s.b.ctx.Done():
			return made, joined, err
		}
	}
}

// mayHold reports whether the client may subscribe to pattern: its
// permissions allow it, or it holds that subscription already (made by a
// backend, or accepted by the subscribe hook), which asking again keeps.
func (s *Session) mayHold(pattern string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	perms := s.permsLocked()
	return perms == nil || perms.CanSubscribe(pattern) || s.findLocked(pattern) != nil
}

// serverUnsubscribe ends the subscription made exactly as topic, if the
// session has it, and tells the client why.
func (s *Session) serverUnsubscribe(ctx context.Context, topic string) {
	s.mu.Lock()
	sub := s.takeLocked(topic)
	s.mu.Unlock()
	if sub == nil {
		return
	}
	s.endSubscription(ctx, sub)
	s.send(unsubscribedFrame(echoID{}, topic, reasonServer))
}
