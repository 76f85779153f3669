package broker

import (
	"fmt"
	"slices"
)

// MaxWalkedNodes is how many nodes of the pattern trie one topic's walk
// may go through for one connection's patterns, whether they match the
// topic or not (docs/protocol.md section 6). A walk compares the topic
// with every node whose path its first tokens fit, so patterns that
// follow a topic token by token, '*' or literal, and part from it only
// near its end cost a look each at every message of it though none
// matches: one anonymous connection holding 1,000 such patterns of 127
// tokens made every publish to the topic cost 1.5 ms of CPU where 0.1 ms
// was all the rest, and four of them 6.5 ms. Each node is counted
// against the subscriptions of its rep (trie.go), so a connection is
// counted for the nodes its own patterns added, two each at most, and a
// connection found over this many is closed (ClosePolicyViolation) and
// its subscriptions leave the index at once, as one with more than
// MaxMatchingPatterns matching patterns is: each walk then goes through
// at most this many nodes per connection, and past it once. Twice
// MaxMatchingPatterns' nodes, so that a connection at that bound is
// never counted over this one for its matching patterns alone.
const MaxWalkedNodes = 4 * MaxMatchingPatterns

// MaxWalkedNodesPerAddress is how many nodes one topic's walk may go
// through for the connections of one client address together, each node
// counted once however many of them it is counted against. Connections
// under MaxWalkedNodes each still added up: 50 of one address with 31
// such patterns each made a publish cost 2.4 ms, and an address may hold
// 1,000. Past it the address's connections counted for the most nodes
// are closed as above until the rest are counted for no more than this,
// so that clients behind one address that hold a few patterns, or the
// same ones, are left alone.
const MaxWalkedNodesPerAddress = 4 * MaxWalkedNodes

var (
	walkedReason        = fmt.Sprintf("its patterns make one topic's match go through more than %d trie nodes", MaxWalkedNodes)
	addressWalkedReason = fmt.Sprintf("its address's patterns make one topic's match go through more than %d trie nodes", MaxWalkedNodesPerAddress)
)

// walkedAddress is what countWalked counted for one client address.
type walkedAddress struct {
	nodes    int32      // the nodes counted against its sessions, each once
	last     int        // 1 + the index of the last node counted
	sessions []*Session // those counted for any
}

// countWalked counts the nodes of walked against the sessions of their
// reps, and against their addresses, and puts in sc.overWalked the
// sessions counted for more than MaxWalkedNodes, and in sc.overAddress
// those that leave their address over MaxWalkedNodesPerAddress. A walk through no more
// nodes than MaxWalkedNodes cannot have any, and is not counted.
func (sc *fanoutScratch) countWalked(walked []*node) {
	if len(walked) <= MaxWalkedNodes {
		return
	}
	if sc.walkedBy == nil {
		sc.walkedBy = make(map[*Session]int32)
		sc.walkedFrom = make(map[any]*walkedAddress)
	}
	for i, n := range walked {
		for _, sub := range n.rep.subs {
			sc.countNode(i, sub.session)
		}
	}
	for _, a := range sc.walkedFrom {
		if a.nodes > MaxWalkedNodesPerAddress {
			sc.closeHeaviest(a)
		}
	}
	for _, n := range walked {
		for _, sub := range n.rep.subs {
			delete(sc.walkedBy, sub.session)
			delete(sc.walkedFrom, sub.session.addressKey())
		}
	}
}

// countNode counts the walk's i-th node against s and its address.
func (sc *fanoutScratch) countNode(i int, s *Session) {
	c := sc.walkedBy[s] + 1
	sc.walkedBy[s] = c
	if c == MaxWalkedNodes+1 {
		sc.overWalked = append(sc.overWalked, s)
	}
	key := s.addressKey()
	if key == nil {
		return
	}
	a := sc.walkedFrom[key]
	if a == nil {
		a = &walkedAddress{}
		sc.walkedFrom[key] = a
	}
	if c == 1 {
		a.sessions = append(a.sessions, s)
	}
	if a.last != i+1 {
		a.last = i + 1
		a.nodes++
	}
}

// closeHeaviest puts a's sessions in sc.overAddress, those counted for
// the most nodes first, until the others are counted for no more than
// MaxWalkedNodesPerAddress nodes.
func (sc *fanoutScratch) closeHeaviest(a *walkedAddress) {
	slices.SortFunc(a.sessions, func(x, y *Session) int { return int(sc.walkedBy[y] - sc.walkedBy[x]) })
	for _, s := range a.sessions {
		if a.nodes <= MaxWalkedNodesPerAddress {
			return
		}
		a.nodes -= sc.walkedBy[s]
		if sc.walkedBy[s] <= MaxWalkedNodes { // not in sc.overWalked already
			sc.overAddress = append(sc.overAddress, s)
		}
	}
}

// addressKey is what s's client address is known by for
// MaxWalkedNodesPerAddress: the command budget that api/limits shares
// among the address's connections (IPv6 counted per prefix, as it
// counts them), else the address itself; nil for none.
func (s *Session) addressKey() any {
	switch {
	case s.pacer != nil:
		return s.pacer
	case s.remote != clientAddr{}:
		return s.remote
	}
	return nil
}

// MatchChecker is a Handler that an engine tells of a topic whose match
// against the node's patterns (the engine's own PatternSet of them) went
// through more than MaxWalkedNodes trie nodes though none matched, so
// that the topic's message does not reach HandleMessage: the Broker then
// walks its own trie for the topic and closes the connections it finds
// over the bounds, as a fan-out would, so that patterns which never
// match cannot make every message of a topic cost the engine that walk.
type MatchChecker interface {
	CheckMatch(topic string)
}

var _ MatchChecker = (*Broker)(nil)

// CheckMatch implements MatchChecker.
func (b *Broker) CheckMatch(topic string) {
	if !ValidTopic(topic) {
		return
	}
	sc := scratchPool.Get().(*fanoutScratch)
	sh := b.idx.rlock(topic)
	b.idx.candidatesLocked(sh, topic, sc)
	sc.reset()
	b.idx.runlock(sh)
	sc.closeFound()
	scratchPool.Put(sc)
}
