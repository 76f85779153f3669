package broker

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// run carries out one job of the session, replying to the client.
func (s *Session) run(j job) {
	if j.release != nil {
		s.releaseAll(j.release)
		return
	}
	if j.server != 0 {
		s.applyControl(&j)
		return
	}
	if j.err != nil {
		s.giveBackPrepaid(&j.cmd, false) // the subscribe hook's no, or its error
		s.fail(j.cmd.echo(), j.err)
		return
	}
	if j.cmd.skippedHook && s.hookAfterAll(&j.cmd) {
		return // answered, or queued again once the hook answers
	}
	if err := s.execute(&j.cmd); err != nil {
		s.fail(j.cmd.echo(), err)
		return
	}
	s.succeed()
}

func (s *Session) execute(c *command) *Error {
	if c.Type == cmdPing {
		s.send(simpleReply("pong", c.echo()))
		return nil
	}
	ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CommandTimeout)
	defer cancel()
	switch c.Type {
	case cmdSubscribe:
		return s.subscribe(ctx, c)
	case cmdUnsubscribe:
		return s.unsubscribe(ctx, c)
	case cmdPublish:
		return s.publish(ctx, c)
	case cmdRefresh:
		return s.refresh(ctx, c)
	case cmdPresence:
		return s.presence(ctx, c)
	}
	return Errorf(CodeUnknownType, "unknown command type %q", c.Type)
}

// unsubscribe drops one subscription of the connection.
func (s *Session) unsubscribe(ctx context.Context, c *command) *Error {
	s.mu.Lock()
	sub := s.takeLocked(c.Topic)
	s.mu.Unlock()
	if sub == nil {
		return Errorf(CodeNotSubscribed, "not subscribed to %q", c.Topic)
	}
	s.endSubscription(ctx, sub)
	s.send(unsubscribedFrame(c.echo(), c.Topic, ""))
	return nil
}

// publish publishes a client's message after its size and permission.
func (s *Session) publish(ctx context.Context, c *command) *Error {
	if len(c.Data) > s.b.cfg.MaxMessageBytes {
		return Errorf(CodeMessageTooLarge, "data is longer than %d bytes", s.b.cfg.MaxMessageBytes)
	}
	if p := s.permissions(); p != nil && !p.CanPublish(c.Topic) {
		return Errorf(CodeForbidden, "not allowed to publish to %q", c.Topic)
	}
	res, err := s.b.publish(ctx, c.Topic, c.Data, c.IdempotencyKey)
	if err != nil {
		return s.b.replyError(err)
	}
	b := newFrame(128 + len(c.ID) + len(c.Topic))
	b = append(b, `{"type":"published"`...)
	b = appendID(b, c.echo())
	b = appendField(b, "topic", res.Topic)
	b = appendUintField(b, "seq", res.Seq)
	b = appendField(b, "msg", res.ID)
	s.send(finishFrame(append(b, '}')))
	return nil
}

func (s *Session) permissions() Permissions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.permsLocked()
}

// releaseAll gives back the presence entries and engine references of a
// closed connection, within one command timeout: the entries first, as
// others see them (a late engine unsubscribe only costs this node traffic
// nobody reads).
func (s *Session) releaseAll(subs []*subscription) {
	ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CommandTimeout)
	defer cancel()
	for _, sub := range subs {
		s.leave(ctx, sub)
	}
	for _, sub := range subs {
		s.releaseEngine(ctx, sub)
	}
}

func (s *Session) releaseEngine(ctx context.Context, sub *subscription) {
	s.leave(ctx, sub)
	if !sub.marked(markAcquired) {
		return
	}
	sub.mark(markAcquired, false)
	if err := s.b.remote.release(ctx, sub.pattern); err != nil {
		s.b.log.Warn("engine unsubscribe failed", zap.String("pattern", sub.pattern), zap.Error(err))
	}
}

// simpleReply is {"type":t,"id":id}.
func simpleReply(t string, id echoID) []byte {
	b := newFrame(32 + len(id.id))
	b = append(b, `{"type":`...)
	b = appendJSONString(b, t)
	b = appendID(b, id)
	return finishFrame(append(b, '}'))
}

// replyError turns an engine error into the error answered to the client.
// One the client cannot act on becomes internal, and is logged by whoever
// answers it, once: api for a request, Session.fail for a command, the
// server subscription for a backend's subscribe.
func (b *Broker) replyError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Message: e.Message, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeUnavailable, Message: "the cluster backend did not answer in time", Err: err}
	}
	return &Error{Code: CodeInternal, Message: "internal error", Err: err}
}
