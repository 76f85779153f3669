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
// was all the rest, and four of them 6.5 ms. A connection is counted for
// the nodes its patterns would make if they were alone in the trie
// (walkowners.go), whatever others hold, and one found over this many is
// closed (ClosePolicyViolation) and its subscriptions leave the index at
// once, as one with more than MaxMatchingPatterns matching patterns is.
// Twice MaxMatchingPatterns' nodes, so that a connection at that bound is
// never over this one: n patterns alone make at most 2n nodes.
const MaxWalkedNodes = 4 * MaxMatchingPatterns

// MaxWalkedNodesPerAddress is how many nodes one topic's walk may go
// through for the connections of one client address together, counted
// as for one connection holding all their patterns. Connections under
// MaxWalkedNodes each still added up: 50 of one address with 31 such
// patterns each made a publish cost 2.4 ms, and an address may hold
// 1,000. Past it the address's connections counted for the most nodes
// are closed as above until the patterns of the rest alone would make
// the walk go through no more than this, so that clients behind one
// address that hold a few patterns, or the same ones, are left alone.
const MaxWalkedNodesPerAddress = 4 * MaxWalkedNodes

var (
	walkedReason        = fmt.Sprintf("its patterns make one topic's match go through more than %d trie nodes", MaxWalkedNodes)
	addressWalkedReason = fmt.Sprintf("its address's patterns make one topic's match go through more than %d trie nodes", MaxWalkedNodesPerAddress)
)

// countWalked counts the nodes of walked, topic's walk, against their
// owners (walkowners.go), and puts in sc.overWalked the sessions counted
// for more than MaxWalkedNodes, and in sc.overAddress those to close for
// their address's MaxWalkedNodesPerAddress. A walk through no more nodes
// than MaxWalkedNodes cannot have any, and is not counted. Only owners
// that can pass their bound are named on nodes, so that a long walk
// through the patterns of clients under their bounds costs a look at each
// node: counting every node against every subscription of a pattern
// below it, as before walkowners.go, cost 0.27 µs a subscription at every
// message while the walk stayed long (BenchmarkFanoutThroughALongWalk).
func (sc *fanoutScratch) countWalked(t *patternTrie, walked []*node, topic string) {
	if len(walked) <= MaxWalkedNodes {
		return
	}
	for _, n := range walked {
		if n.owners != nil {
			for _, o := range *n.owners {
				sc.countOwner(o)
			}
		}
	}
	for _, a := range sc.overOwners {
		sc.closeHeaviest(t, a, topic)
	}
	for _, n := range walked {
		if n.owners != nil {
			for _, o := range *n.owners {
				delete(sc.walkedBy, o)
			}
		}
	}
	clear(sc.overOwners)
	sc.overOwners = sc.overOwners[:0]
}

// countOwner counts one more node against o, and notes o once it is over
// its bound.
func (sc *fanoutScratch) countOwner(o *walkOwner) {
	if sc.walkedBy == nil {
		sc.walkedBy = make(map[*walkOwner]int32)
	}
	c := sc.walkedBy[o] + 1
	sc.walkedBy[o] = c
	switch {
	case c != o.bound+1:
	case o.session != nil:
		sc.overWalked = append(sc.overWalked, o.session)
	default:
		sc.overOwners = append(sc.overOwners, o)
	}
}

// closeHeaviest puts in sc.overAddress the sessions of the address a,
// counted over MaxWalkedNodesPerAddress for topic, that its patterns
// alone make topic's walk go through the most nodes, until the patterns
// of the others alone would make it go through no more than the bound:
// the others are added to a trie of their patterns, the lightest first,
// until one would pass it. Sessions over MaxWalkedNodes already are
// closed for it and left out. Of sessions alike, those that came to hold
// patterns first are kept first.
func (sc *fanoutScratch) closeHeaviest(t *patternTrie, a *walkOwner, topic string) {
	type weighed struct {
		s     *Session
		o     *walkOwner
		nodes int
	}
	var sessions []weighed
	for _, s := range a.more.sessions {
		o := t.sessions[s]
		if o == nil || sc.walkedBy[o] > MaxWalkedNodes {
			continue
		}
		sessions = append(sessions, weighed{s, o, aloneWalk(t, o, topic)})
	}
	slices.SortStableFunc(sessions, func(x, y weighed) int { return x.nodes - y.nodes })
	var kept node
	for i, w := range sessions {
		for _, p := range w.o.patterns {
			kept.insert(p, ownedPattern) // again when another holds it: no change
		}
		var log walkLog
		if kept.walk(topic, nil, &log); log.count > MaxWalkedNodesPerAddress {
			for _, w := range sessions[i:] {
				sc.overAddress = append(sc.overAddress, w.s)
			}
			return
		}
	}
}

// aloneWalk is how many nodes topic's walk goes through in o's patterns
// alone.
func aloneWalk(t *patternTrie, o *walkOwner, topic string) int {
	alone := o.alone()
	if alone == nil {
		alone = &node{}
		o.eachPattern(t, func(p string) { alone.insert(p, ownedPattern) })
	}
	var log walkLog
	alone.walk(topic, nil, &log)
	return log.count
}

// addressKey is what a client address is known by for
// MaxWalkedNodesPerAddress: the command budget that api/limits shares
// among the address's connections (IPv6 counted per prefix, as it
// counts them), else the address itself. A struct, where an interface
// holding the address would allocate at every count.
type addressKey struct {
	pacer AddressPacer
	addr  clientAddr
}

// addressKey is s's; false for none.
func (s *Session) addressKey() (addressKey, bool) {
	switch {
	case s.pacer != nil:
		return addressKey{pacer: s.pacer}, true
	case s.remote != clientAddr{}:
		return addressKey{addr: s.remote}, true
	}
	return addressKey{}, false
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
