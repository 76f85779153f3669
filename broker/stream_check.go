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
// (so that an engine down answers unavailable), not its history.
func (b *Broker) CheckStream(ctx context.Context, info ClientInfo, topics []string) error {
	topics, err := b.checkStreamTopics(info.Perms, topics)
	if err != nil {
		return err
	}
	if err := b.checkStreamFits(info.Pacer, info.Subject, topics, info.Subs); err != nil {
		return err
	}
	asked := topics
	topics = withServerTopics(topics, info.Subs)
	paid, perr := b.paceStream(info.Pacer, info.Subject, topics)
	if perr != nil {
		return perr
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
		if taken >= b.cfg.MaxSubscriptions {
			return tooManyOnConnection(b.cfg.MaxSubscriptions)
		}
		s.mu.Lock()
		err := s.takeAddressSubscription()
		s.mu.Unlock()
		if err != nil {
			return err
		}
		taken++
		if IsPattern(topic) {
			continue
		}
		if _, err := b.engine.Position(ctx, topic); err != nil {
			return b.replyError(err)
		}
	}
	return nil
}

// tooManyOnConnection is the refusal of a subscription past a
// connection's bound of max.
func tooManyOnConnection(max int) *Error {
	return Errorf(CodeTooManySubscriptions, "at most %d subscriptions per connection", max)
}
