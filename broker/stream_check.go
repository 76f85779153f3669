package broker

import "context"

// CheckStream answers what OpenStream would refuse of the same request,
// in the same order, opening nothing: the HEAD of /sse (docs/protocol.md
// section 10), which sends no event. Nothing is subscribed, so nothing
// joins a presence topic, occupies a topic or reaches the webhooks: two
// HEADs of a presence topic opened and closed a stream each, and its
// members saw two joins and two leaves, the webhook topic_occupied,
// member_added and member_removed twice, topic_vacated. Each topic's
// checks run as a stream's would: its syntax and permission, its
// address's budget (each topic counted one command, as the position read
// here; the work of a setup, presence and occupancy, given back), the
// subscribe hook for those it covers, the connection's and its address's
// subscription bounds, and for an exact topic its position in the engine
// (so that an engine down answers unavailable), not its history, for a
// pattern whether the engine could subscribe it (checkSubscribe). The
// checks it shares with OpenStream are the same calls: paceStreamRequest,
// authorizeStream and takeRoomLocked.
func (b *Broker) CheckStream(ctx context.Context, info ClientInfo, topics []string) error {
	asked, topics, paid, err := b.paceStreamRequest(info, topics)
	if err != nil {
		return err
	}
	s := b.newSession(&stream{}, info)
	defer s.Disconnected()
	for i, topic := range topics {
		s.giveBackWork(paid[i], topic, false)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	if err := s.authorizeStream(ctx, asked); err != nil {
		return err
	}
	taken := 0
	defer func() {
		s.mu.Lock()
		s.giveAddressSubscriptions(taken)
		s.mu.Unlock()
	}()
	for _, topic := range topics {
		s.mu.Lock()
		err := s.takeRoomLocked(taken)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		taken++
		if IsPattern(topic) {
			if err := b.checkSubscribe(ctx, topic); err != nil {
				return b.replyError(err)
			}
			continue
		}
		if _, err := b.engine.Position(ctx, topic); err != nil {
			return b.replyError(err)
		}
	}
	return nil
}

// checkSubscribe returns what the engine's Subscribe of pattern would
// fail with now (SubscribeChecker), when this node does not hold pattern
// and a stream's setup would ask it (remoteSubs.acquire): a pattern has
// no position to read, and its HEAD was answered 200 with Redis out of
// reach, where the GET was refused 503.
func (b *Broker) checkSubscribe(ctx context.Context, pattern string) error {
	c, ok := b.engine.(SubscribeChecker)
	if !ok || b.remote.holds(pattern) {
		return nil
	}
	return c.CheckSubscribe(ctx, pattern)
}

// paceStreamRequest runs the checks of an SSE request that come before
// its session, in order: its topics (checkStreamTopics), whether they fit
// its address's budget beside its token's subs (checkStreamFits), then
// takes them from that budget with the subs claim's (paceStream). It
// returns the topics asked without repeats, them with the claim's, which
// the stream subscribes, and what paceStream counted each.
func (b *Broker) paceStreamRequest(info ClientInfo, topics []string) (asked, all []string, paid []*prepaid, err error) {
	asked, terr := b.checkStreamTopics(info.Perms, topics)
	if terr != nil {
		return nil, nil, nil, terr
	}
	if err := b.checkStreamFits(info.Pacer, info.Subject, asked, info.Subs); err != nil {
		return nil, nil, nil, err
	}
	all = withServerTopics(asked, info.Subs)
	paid, perr := b.paceStream(info.Pacer, info.Subject, all)
	if perr != nil {
		return nil, nil, nil, perr
	}
	return asked, all, paid, nil
}

// takeRoomLocked counts one more subscription of s, which holds held,
// in its address's bound, or returns why it cannot hold it: past the
// connection's bound, or its address's. Called with mu held.
func (s *Session) takeRoomLocked(held int) *Error {
	if held >= s.b.cfg.MaxSubscriptions {
		return tooManyOnConnection(s.b.cfg.MaxSubscriptions)
	}
	return s.takeAddressSubscription()
}

// tooManyOnConnection is the refusal of a subscription past a
// connection's bound of max.
func tooManyOnConnection(max int) *Error {
	return Errorf(CodeTooManySubscriptions, "at most %d subscriptions per connection", max)
}
