package broker

import "fmt"

// MaxWalkedNodes is how many nodes of the pattern trie one topic's walk
// may go through for one connection's patterns, whether they match the
// topic or not (docs/protocol.md section 6). A walk compares the topic
// with every node whose path its first tokens fit, so patterns that
// follow a topic token by token, '*' or literal, and part from it only
// near its end cost a look each at every message of it though none
// matches: one anonymous connection holding 1,000 such patterns of 127
// tokens made every publish to the topic cost 1.6 ms of CPU where 0.1 ms
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

var walkedReason = fmt.Sprintf("its patterns make one topic's match go through more than %d trie nodes", MaxWalkedNodes)

// countWalked counts the nodes of walked against the sessions of their
// reps and puts those counted for more than MaxWalkedNodes in
// sc.overWalked. A walk through no more nodes than that cannot have any,
// and is not counted.
func (sc *fanoutScratch) countWalked(walked []*node) {
	if len(walked) <= MaxWalkedNodes {
		return
	}
	if sc.walkedBy == nil {
		sc.walkedBy = make(map[*Session]int32)
	}
	for _, n := range walked {
		for _, sub := range n.rep.subs {
			c := sc.walkedBy[sub.session] + 1
			sc.walkedBy[sub.session] = c
			if c == MaxWalkedNodes+1 {
				sc.overWalked = append(sc.overWalked, sub.session)
			}
		}
	}
	for _, n := range walked {
		for _, sub := range n.rep.subs {
			delete(sc.walkedBy, sub.session)
		}
	}
}
