package broker

import (
	"sync/atomic"
	"time"
)

// Some subscribes have Redis do far more work than the 7.5 commands a
// counted command takes when subscribing to and leaving a new topic
// (15 for the pair), and count as the commands that work costs toward
// the budget of the client's address, which bounds the Redis work an
// address causes, rather than have it allow two or three times the
// work. The connection's own rate counts them once, as commands, so
// that one client moving between presence topics is not held to a
// third of its rate. Measured on one Redis
// (e2e's TestSubscribesCountTheirRedisWork, BENCHMARKS.md, Hardening):
//
//   - with the webhooks on (Config.Events), a subscribe that makes the
//     node hold a topic has it record the topic occupied and, once its
//     last subscriber here leaves, vacated, each with its event queued,
//     waited out, sent and taken off the queue, in the webhooks' one slot
//     (one master of a Cluster, whatever the topic): 37 commands for the
//     pair, 22 more than without. That work is what tells the backend in
//     order, whichever node made the change, and survives a failover;
//   - a subscribe that joins a topic's presence has the topic's entry of
//     the session added and removed, and its members' count and change
//     log kept: 28 commands for the pair, 13 more than a topic without
//     presence, anonymous sessions included;
//   - a signed-in client's join and leave are its user's member changes
//     too (the user's member entry and name, the change log, every node
//     told): 52 commands for the pair, 24 more than an anonymous
//     session's; and with the webhooks on each is a member_added or
//     member_removed event queued, waited out, sent and taken off the
//     queue: 105 for the pair, 54 more than an anonymous session's. Only
//     a user's first session on a topic joins it, which cannot be told as
//     a subscribe comes: each is counted as if it were.

// OccupancyCommands is how many commands more than itself a client's
// subscribe counts when it makes this node hold a topic (the reporter
// told TopicHeld), with the webhooks on: its vacating later is in it.
const OccupancyCommands = 3

// PresenceJoinCommands is how many commands more than itself a client's
// subscribe counts when it joins a topic's presence: its leave later is
// in it.
const PresenceJoinCommands = 2

// MemberChangeCommands is how many commands more than PresenceJoinCommands
// a signed-in client's join of a topic's presence counts: the member
// changes of its user's join and leave later.
const MemberChangeCommands = 4

// MemberEventCommands is how many commands more again a signed-in
// client's join of a topic's presence counts with the webhooks on: its
// member_added, and its leave's member_removed.
const MemberEventCommands = 4

// joinWork is how many commands more than itself a subscribe of topic by
// a client signed in as user ("": anonymous) counts for joining the
// topic's presence: 0 when the topic keeps none.
func (b *Broker) joinWork(topic, user string) int {
	if !b.keepsPresence(topic) {
		return 0
	}
	n := PresenceJoinCommands
	if user != "" {
		n += MemberChangeCommands
		if b.remote.events != nil {
			n += MemberEventCommands
		}
	}
	return n
}

// prepaySubscribeLocked counts a client's subscribe c, let through at
// now, the work it will cause as far as that can be told as it comes:
// the join of its topic's presence, and with the webhooks on the
// occupancy of a topic the node does not hold, unless another's
// subscribe of it was counted that (claimOccupancy). Counted only once set up,
// the subscribes a client sends together (herald.js sends all its own as
// it connects) were each let through by a budget that held one command
// for them, and what they counted later, past the one burst an address
// may owe, was forgiven: ten connections of one address, each sending 30
// subscribes of new presence topics at once, had all 300 on a burst of
// 300, where one at a time had 100. What c was counted is recorded in it
// (c.paid) so that its setup counts it no more, and counts what could
// not be told (the node gave up the topic meanwhile); what of it does not
// run is given back (giveBackPrepaid). Called with mu held.
func (s *Session) prepaySubscribeLocked(c *command, now int64) {
	if c.Type != cmdSubscribe || c.server || !ValidPattern(c.Topic) || s.findLocked(c.Topic) != nil {
		return
	}
	if perms := s.permsLocked(); perms != nil && !perms.CanSubscribe(c.Topic) {
		return // refused, or let through by the subscribe hook and counted then
	}
	if _, ok := s.pacer.(AddressSpender); !ok {
		return
	}
	n, p := s.b.subscribeWork(c.Topic, s.subject(), now, true)
	if n == 0 {
		return
	}
	c.paid = p
	s.chargeAddress(now, n)
}

// subscribeWork is how many commands more a subscribe of topic by a
// client signed in as user ("": anonymous) counts at now, as far as can
// be told before it is set up, and what of them it counted (nil when
// nothing), with when it claimed the topic's occupancy (claimOccupancy)
// if it did. With claim false it claims nothing, and only tells what a
// subscribe would count.
func (b *Broker) subscribeWork(topic, user string, now int64, claim bool) (int, *prepaid) {
	join := b.joinWork(topic, user)
	n, marks, claimedAt := join, workerMarks(0), int64(0)
	if join > 0 {
		marks |= markPaidPresence
	}
	if b.countsOccupancy(topic) && (claim && b.remote.claimOccupancy(topic, now) || !claim && b.remote.claimable(topic, now)) {
		n += OccupancyCommands
		marks |= markPaidOccupancy
		if claim {
			claimedAt = now
		}
	}
	if n == 0 {
		return 0, nil
	}
	p := &prepaid{claimedAt: claimedAt, join: join}
	p.marks.Store(uint32(marks))
	return n, p
}

// countsOccupancy reports whether a subscribe of topic is counted its
// occupancy when it makes the node hold it: with the webhooks on, for an
// exact topic.
func (b *Broker) countsOccupancy(topic string) bool {
	return b.remote.events != nil && !IsPattern(topic)
}

// prepaid is what a client's subscribe was counted of its work as it
// came, shared by every copy of its command (a subscribe waiting for the
// hook is copied), so that what is given back is given back once.
type prepaid struct {
	marks     atomic.Uint32 // workerMarks: markPaidPresence, markPaidOccupancy not yet used nor given back
	claimedAt int64         // when it claimed its topic's occupancy (markPaidOccupancy)
	join      int           // what it counted for the presence join (markPaidPresence): joinWork
}

// take clears m of what p holds and returns which of m it held; nil
// holds nothing.
func (p *prepaid) take(m workerMarks) workerMarks {
	if p == nil {
		return 0
	}
	for {
		held := p.marks.Load()
		if p.marks.CompareAndSwap(held, held&^uint32(m)) {
			return workerMarks(held) & m
		}
	}
}

// settled are the marks c's subscription is set up with: what its
// subscribe was counted as it came.
func (p *prepaid) settled() workerMarks {
	if p == nil {
		return 0
	}
	return workerMarks(p.marks.Load())
}

// giveBackPrepaid gives back to the budget of s's address what a client's
// subscribe c was counted as it came (prepaySubscribeLocked) for work that
// did not run, once c is answered or dropped: the presence join unless
// joined, and the topic's occupancy while c's own claim of it still
// stands, as no setup made the node hold the topic on it. Without it, a
// client whose subscribes failed (unavailable while Redis was down, a
// duplicate sent with the first, refused by the subscribe hook, or its
// connection closed before they ran) paid its budget away and was
// refused rate_limited for work that never ran, as herald.js asks again.
// What is given back is taken off c.paid, so that no copy of c gives it
// back again; the claim it gives back is ended, so that the subscribe
// that makes the node hold the topic later is counted it.
func (s *Session) giveBackPrepaid(c *command, joined bool) {
	s.giveBackWork(c.paid, c.Topic, joined)
}

// giveBackWork is giveBackPrepaid for what p counted a subscribe, or a
// stream's topic, of topic.
func (s *Session) giveBackWork(p *prepaid, topic string, joined bool) {
	s.giveBackAddress(s.b.workNotRun(p, topic, joined))
}

// workNotRun takes off p, and returns, what it counted a subscribe of
// topic for work that did not run: its presence join unless joined, and
// its occupancy while its own claim still stands (which it ends).
func (b *Broker) workNotRun(p *prepaid, topic string, joined bool) int {
	if p == nil {
		return 0
	}
	n := 0
	if joined {
		p.take(markPaidPresence)
	} else if p.take(markPaidPresence) != 0 {
		n += p.join
	}
	if p.take(markPaidOccupancy) != 0 && b.remote.dropClaim(topic, p.claimedAt) {
		n += OccupancyCommands
	}
	return n
}

// giveBackAddress gives n commands back to the budget of s's address,
// those it took for work that did not run.
func (s *Session) giveBackAddress(n int) { giveBackTo(s.pacer, n) }

// chargeSubscribeWork takes n commands more for sub's subscribe from the
// budget of the client's address, owing what it cannot take, when sub is
// the client's own and was not counted them as it came (paid): a
// backend's subscribe is not counted against the client, as its commands
// are not.
// It reports whether it took them.
func (s *Session) chargeSubscribeWork(sub *subscription, n int, paid workerMarks) bool {
	if sub.marked(markServer | paid) {
		return false
	}
	s.chargeAddress(time.Now().UnixNano(), n)
	return true
}

// PaceSubs takes from address's budget (nil: none) what a WebSocket's
// subs claim (ClientInfo.Subs) counts as it connects, before its upgrade,
// as an SSE stream's topics count as it opens (paceStream): one command a
// topic, and each topic's work. Free, one valid token whose subs name as
// many topics as a connection may hold, presented again at the connect
// rate (50 a second), had the node subscribe to and leave 50,000 topics
// a second, 25 times the budget, and what its closes count was owed to
// commands it never sent. Past the budget it is rate_limited, and
// nothing is taken. What it took is returned for the connection to keep
// (ClientInfo.SubsPaid), so that the topics it never sets up are given
// back (SubsCharge); nil when nothing can be.
func (b *Broker) PaceSubs(address AddressPacer, user string, subs []string) (*SubsCharge, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	topics := withServerTopics(nil, subs)
	paid, err := b.paceStream(address, user, topics)
	if err != nil {
		return nil, err
	}
	return newSubsCharge(address, topics, paid), nil
}

// AddressGauge is an AddressPacer that tells, taking nothing, whether its
// budget holds n commands at now, what its address owes paid first, and
// how many it holds at most (its burst). api/limits's is one.
type AddressGauge interface {
	HoldsCommands(now int64, n int) bool
	CommandBurst() int
}

// CheckSubsPace reports, taking nothing and claiming nothing, PaceSubs's
// refusal when address's budget does not hold now what subs would take
// (nil: it does, or address is no AddressGauge). A plain GET of /ws, by
// which herald.js asks why its WebSocket failed, is answered it: told
// that every check passed, herald.js took the refusal for a network that
// blocks WebSocket, opened again at once and, the second time in a row,
// fell back to SSE for good.
func (b *Broker) CheckSubsPace(address AddressPacer, user string, subs []string) error {
	gauge, ok := address.(AddressGauge)
	if !ok || len(subs) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if gauge.HoldsCommands(now, b.subsCommands(address, user, subs, now)) {
		return nil
	}
	return addressRateLimited()
}

// checkSubsFit returns why subs can never be taken from address's budget
// as its connection opens (nil: they can, or address is no AddressGauge):
// they count more than its burst, which the budget never holds more of,
// so that waiting for it, as a 429's Retry-After said, never ended.
func (b *Broker) checkSubsFit(address AddressPacer, user string, subs []string) error {
	gauge, ok := address.(AddressGauge)
	if !ok || len(subs) == 0 {
		return nil
	}
	if n, burst := b.subsCommands(address, user, subs, time.Now().UnixNano()), gauge.CommandBurst(); n > burst {
		return Errorf(CodeUnauthorized, "subs counts %d commands of its address's budget as the connection opens, "+
			"more than the burst of %d it holds at most (HERALD_COMMAND_BURST_PER_IP)", n, burst)
	}
	return nil
}

// checkStreamFits returns why an SSE stream of topics (its own, checked
// by checkStreamTopics) beside its token's subs can never be taken from
// address's budget as it opens (nil: it can, or address is no
// AddressGauge): together they count more than its burst, though the
// claim fits alone (checkSubsFit, which it checks first) and each topic
// may. Answered 429, as a budget spent for now is, the request was
// refused at every try for good. The topics are counted after the
// claim's, in order, and the refusal names the first that takes the
// count past the burst, too_many_subscriptions (400): a client drops
// that one and opens the stream with the rest at once, as for a topic
// refused for good (docs/protocol.md section 10).
func (b *Broker) checkStreamFits(address AddressPacer, user string, topics, subs []string) error {
	if err := b.checkSubsFit(address, user, subs); err != nil {
		return err
	}
	gauge, ok := address.(AddressGauge)
	if !ok {
		return nil
	}
	now := time.Now().UnixNano()
	claim := withServerTopics(nil, subs)
	n, burst := b.subsCommands(address, user, claim, now), gauge.CommandBurst()
	for _, topic := range topics {
		if contains(claim, topic) {
			continue // counted with the claim
		}
		if n += b.topicCommands(address, user, topic, now); n > burst {
			counted := "the stream's topics"
			if len(claim) > 0 {
				counted += " and its subs claim" // a token's, or a connect hook's
			}
			return Errorf(CodeTooManySubscriptions, "with %q %s count %d commands "+
				"of its address's budget as it opens, more than the burst of %d it holds at most (HERALD_COMMAND_BURST_PER_IP)",
				topic, counted, n, burst).aboutTopic(topic)
		}
	}
	return nil
}

// subsCommands is how many commands paceStream would take at now from
// address's budget for subs, claiming nothing.
func (b *Broker) subsCommands(address AddressPacer, user string, subs []string, now int64) int {
	n := 0
	for _, topic := range withServerTopics(nil, subs) {
		n += b.topicCommands(address, user, topic, now)
	}
	return n
}

// topicCommands is how many commands paceStream would take at now from
// address's budget for one topic, claiming nothing.
func (b *Broker) topicCommands(address AddressPacer, user, topic string, now int64) int {
	if _, spends := address.(AddressSpender); !spends {
		return 1 // extra work is counted only by a spender
	}
	work, _ := b.subscribeWork(topic, user, now, false)
	return 1 + work
}
