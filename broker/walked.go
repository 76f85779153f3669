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
// counted for the nodes its own patterns added, two each at most, and
// for those it inherits as the patterns that added them go, and a
// connection found over this many is closed (ClosePolicyViolation) and
// its subscriptions leave the index at once, as one with more than
// MaxMatchingPatterns matching patterns is: each walk then goes through
// at most this many nodes per connection, and past it once. Twice
// MaxMatchingPatterns' nodes, so that a connection at that bound is not
// counted over this one for the nodes its matching patterns added; the
// nodes it inherits are not bounded so: a connection holding 16
// patterns of 14 tokens that match a topic was counted for 184 nodes,
// and closed, once another had split their edges at every token and
// taken back the patterns that split them.
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
	nodes int32 // the nodes counted against its sessions, each once
	last  int   // 1 + the index in sc.reps of the last entry counted
}

// repCount is one rep of a walk's nodes and how many of them it is the
// rep of.
type repCount struct {
	e     *entry
	nodes int32
}

// countWalked counts the nodes of walked against the sessions of their
// reps, and against their addresses, and puts in sc.overWalked the
// sessions counted for more than MaxWalkedNodes, and in sc.overAddress
// those that leave their address over MaxWalkedNodesPerAddress. A walk
// through no more nodes than MaxWalkedNodes cannot have any, and is not
// counted. The nodes are counted per rep first, so that each rep's
// subscriptions are gone through once, whatever number of the nodes it
// is the rep of, and addresses only when the walk is long enough for
// one to be over: counting every node against every subscription of
// its rep, with a record allocated per address, made a message to 2,000
// connections holding "a.>" cost 3.2 ms and 6,124 allocations, where
// 0.1 ms and one were all, once two connections under both bounds made
// its walk go through 125 nodes; counted this way it costs 0.6 ms and
// one (BenchmarkFanoutThroughALongWalk).
func (sc *fanoutScratch) countWalked(walked []*node) {
	if len(walked) <= MaxWalkedNodes {
		return
	}
	if sc.walkedBy == nil {
		sc.walkedBy = make(map[*Session]int32)
		sc.walkedFrom = make(map[addressKey]walkedAddress)
		sc.repAt = make(map[*entry]int)
	}
	sc.countReps(walked)
	// An address is counted for walked's nodes at most.
	perAddress := len(walked) > MaxWalkedNodesPerAddress
	for i, r := range sc.reps {
		for _, sub := range r.e.subs {
			sc.countRep(i, r.nodes, sub.session, perAddress)
		}
	}
	for key, a := range sc.walkedFrom {
		if a.nodes > MaxWalkedNodesPerAddress {
			sc.closeHeaviest(key, a.nodes)
		}
	}
	sc.forgetWalked(perAddress)
}

// forgetWalked empties what countWalked filled, key by key.
func (sc *fanoutScratch) forgetWalked(perAddress bool) {
	for _, r := range sc.reps {
		for _, sub := range r.e.subs {
			delete(sc.walkedBy, sub.session)
			if key, ok := sub.session.addressKey(); ok && perAddress {
				delete(sc.walkedFrom, key)
			}
		}
		delete(sc.repAt, r.e)
	}
	clear(sc.reps)
	sc.reps = sc.reps[:0]
}

// countReps puts in sc.reps the reps of walked's nodes, each once, with
// how many of them it is the rep of.
func (sc *fanoutScratch) countReps(walked []*node) {
	for _, n := range walked {
		if i, ok := sc.repAt[n.rep]; ok {
			sc.reps[i].nodes++
			continue
		}
		sc.repAt[n.rep] = len(sc.reps)
		sc.reps = append(sc.reps, repCount{e: n.rep, nodes: 1})
	}
}

// countRep counts the nodes that sc.reps[i] is the rep of against s, one
// of its subscriptions' sessions, and s's address when perAddress.
func (sc *fanoutScratch) countRep(i int, nodes int32, s *Session, perAddress bool) {
	c := sc.walkedBy[s]
	sc.walkedBy[s] = c + nodes
	if c <= MaxWalkedNodes && c+nodes > MaxWalkedNodes {
		sc.overWalked = append(sc.overWalked, s)
	}
	if !perAddress {
		return
	}
	key, ok := s.addressKey()
	if !ok {
		return
	}
	if a := sc.walkedFrom[key]; a.last != i+1 { // each rep's nodes once
		sc.walkedFrom[key] = walkedAddress{nodes: a.nodes + nodes, last: i + 1}
	}
}

// closeHeaviest puts the sessions of the address key, counted for nodes
// in all, in sc.overAddress, those counted for the most nodes first,
// until the others are counted for no more than MaxWalkedNodesPerAddress
// nodes. A node leaves the address's count with the last of its
// sessions that holds the node's rep: taking each closed session's own
// count off instead took the nodes it shares with the others off too,
// and an address of 20 connections holding 25 patterns alike and 7 of
// their own each was left at 298 nodes after the first message, and
// needed four to come under the bound.
func (sc *fanoutScratch) closeHeaviest(key addressKey, nodes int32) {
	held := make(map[*Session][]int) // the indexes in sc.reps of each session's reps
	holders := make([]int32, len(sc.reps))
	var sessions []*Session // in the order the walk met them
	for i, r := range sc.reps {
		for _, sub := range r.e.subs {
			s := sub.session
			if k, _ := s.addressKey(); k != key {
				continue
			}
			if _, ok := held[s]; !ok {
				sessions = append(sessions, s)
			}
			held[s] = append(held[s], i)
			holders[i]++
		}
	}
	slices.SortStableFunc(sessions, func(x, y *Session) int { return int(sc.walkedBy[y] - sc.walkedBy[x]) })
	for _, s := range sessions {
		if nodes <= MaxWalkedNodesPerAddress {
			return
		}
		for _, i := range held[s] {
			if holders[i]--; holders[i] == 0 {
				nodes -= sc.reps[i].nodes
			}
		}
		if sc.walkedBy[s] <= MaxWalkedNodes { // not in sc.overWalked already
			sc.overAddress = append(sc.overAddress, s)
		}
	}
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
