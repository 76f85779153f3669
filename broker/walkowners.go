package broker

import "slices"

// walkOwner is a connection, or a client address, as the walk bounds
// count it (walked.go): against the nodes its patterns would make if they
// were alone in the trie, each once. Those are the nodes where one of its
// patterns ends or two of them part; every one is a node of the shared
// trie too, at the same path, and a walk through the shared trie goes
// through no more of them than a walk through its patterns alone would
// (where others split one of its edges, the shared nodes take the
// comparisons of the edge's label in parts). So what others subscribe or
// take back, in any order, neither adds to its count nor leaves it a node
// they made, as a rep handed from pattern to pattern did: a client that
// split a connection's edges at every token and took back the patterns
// that split them left that connection counted for 184 nodes, its
// patterns alone making 30. A node where the patterns of owners part, and
// that none of them would have alone, is counted against none: adding an
// owner's patterns to the trie adds at most one such node for each edge
// its patterns alone make (where that edge parts from the others'), so
// that they add to a walk at most twice the nodes their walk alone would
// go through.
//
// An owner's nodes are named on the shared trie's nodes (node.owners)
// once it has more of them than its bound, until it has no more than
// half of it (settle): one with no more than its bound can never be
// counted over it, so the walks of the patterns most clients hold count
// nothing. An owner keeps the trie of its patterns alone only while it
// holds more than a quarter of its bound of them (a trie of n patterns
// has at most 2n nodes), built once it holds more than half. Guarded by
// the index's trie lock, for writing.
type walkOwner struct {
	session  *Session // nil for an address
	patterns []string // a session's patterns
	held     int32    // the patterns it holds: an address's sessions' together
	bound    int32
	more     *ownerMore // an address's always, a session's while it keeps its trie
}

// ownerMore is what few owners keep, apart so that a connection holding
// a few patterns costs a small walkOwner.
type ownerMore struct {
	sessions []*Session       // an address's sessions holding patterns
	alone    *node            // its patterns alone, or nil
	nodes    int32            // alone's nodes, its root aside
	named    bool             // alone's nodes are named on the shared trie's
	counts   map[string]int32 // with alone: its patterns, with how many of its sessions hold each
}

// alone is o's trie of its patterns alone, or nil.
func (o *walkOwner) alone() *node {
	if o.more == nil {
		return nil
	}
	return o.more.alone
}

// ownedPattern marks a pattern's end in an owner's trie.
var ownedPattern = &entry{}

// own counts pattern, just put in the shared trie for s, as s's and its
// address's. An address whose patterns only one session holds is that
// session's owner in t.addresses, so that a client alone at its address
// costs no second owner: its address cannot be counted for more than
// it, and it is closed at MaxWalkedNodes first.
func (t *patternTrie) own(s *Session, pattern string) {
	if s == nil { // an index's own tests
		return
	}
	if t.sessions == nil {
		t.sessions = make(map[*Session]*walkOwner)
		t.addresses = make(map[addressKey]*walkOwner)
	}
	o := t.sessions[s]
	if o == nil {
		o = &walkOwner{session: s, bound: MaxWalkedNodes}
		t.sessions[s] = o
	}
	o.patterns = append(o.patterns, pattern)
	o.add(t, pattern)
	key, ok := s.addressKey()
	if !ok {
		return
	}
	switch a := t.addresses[key]; {
	case a == nil:
		t.addresses[key] = o
	case a == o:
	case a.session != nil: // a second session: the address gets its own
		both := &walkOwner{bound: MaxWalkedNodesPerAddress, more: &ownerMore{sessions: []*Session{a.session, s}}}
		both.held = int32(len(a.patterns) + len(o.patterns))
		t.addresses[key] = both
		both.build(t)
	default:
		if len(o.patterns) == 1 {
			a.more.sessions = append(a.more.sessions, s)
		}
		a.add(t, pattern)
	}
}

// disown undoes own, before pattern leaves the shared trie.
func (t *patternTrie) disown(s *Session, pattern string) {
	o := t.sessions[s]
	if o == nil {
		return // an index's own tests
	}
	i := slices.Index(o.patterns, pattern)
	if i < 0 {
		return
	}
	o.patterns = slices.Delete(o.patterns, i, i+1)
	if o.remove(t, pattern) {
		delete(t.sessions, s)
	}
	key, ok := s.addressKey()
	a := t.addresses[key]
	switch {
	case !ok || a == nil:
		return
	case a == o:
		if len(o.patterns) == 0 {
			delete(t.addresses, key)
		}
		return
	case len(o.patterns) == 0:
		a.more.sessions = slices.DeleteFunc(a.more.sessions, func(x *Session) bool { return x == s })
	}
	if a.remove(t, pattern) {
		delete(t.addresses, key)
	}
}

// add counts one more holding of pattern as o's.
func (o *walkOwner) add(t *patternTrie, pattern string) {
	o.held++
	k := o.more
	if k == nil || k.alone == nil {
		o.build(t)
		return
	}
	if k.counts[pattern]++; k.counts[pattern] > 1 {
		return
	}
	end, _ := body(pattern)
	var routes [2]routeLengths
	before := k.alone.route(pattern[:end], routes[0][:0])
	k.alone.insert(pattern, ownedPattern)
	o.changed(&t.root, pattern[:end], k.alone.route(pattern[:end], routes[1][:0]), before, true)
	o.settle(&t.root)
}

// remove takes one holding of pattern off o's and reports whether o
// holds none now.
func (o *walkOwner) remove(t *patternTrie, pattern string) (empty bool) {
	o.held--
	k := o.more
	if k == nil || k.alone == nil {
		return o.held == 0
	}
	if k.counts[pattern]--; k.counts[pattern] <= 0 {
		delete(k.counts, pattern)
		end, _ := body(pattern)
		var routes [2]routeLengths
		before := k.alone.route(pattern[:end], routes[0][:0])
		k.alone.remove(pattern)
		o.changed(&t.root, pattern[:end], before, k.alone.route(pattern[:end], routes[1][:0]), false)
		o.settle(&t.root)
	}
	if 4*o.held <= o.bound { // nodes no more than half the bound: not named
		k.alone, k.nodes, k.counts = nil, 0, nil
		if o.session != nil {
			o.more = nil
		}
	}
	return o.held == 0
}

// eachPattern calls fn for every holding of a pattern of o's.
func (o *walkOwner) eachPattern(t *patternTrie, fn func(string)) {
	if o.session != nil {
		for _, p := range o.patterns {
			fn(p)
		}
		return
	}
	for _, s := range o.more.sessions {
		for _, p := range t.sessions[s].patterns {
			fn(p)
		}
	}
}

// changed counts the nodes of o's trie in more but not in less, routes
// along one pattern's body b, both shortest first: the nodes made by its
// insert (made) or dropped by its remove. It names them on the shared
// trie, or takes their names off, when o's are named. Compared in step,
// as paths along one body are the same when their lengths are, since
// looking each of more up in less took 10,000 string comparisons for a
// pattern of 100 tokens.
func (o *walkOwner) changed(shared *node, b string, more, less []uint16, made bool) {
	j := 0
	for _, l := range more {
		for j < len(less) && less[j] < l {
			j++
		}
		if j < len(less) && less[j] == l {
			continue
		}
		switch {
		case made:
			o.more.nodes++
		default:
			o.more.nodes--
		}
		if o.more.named {
			o.rename(shared, b[:l], made)
		}
	}
}

// build makes o's trie once o holds more than half its bound of
// patterns.
func (o *walkOwner) build(t *patternTrie) {
	if 2*o.held <= o.bound {
		return
	}
	if o.more == nil {
		o.more = &ownerMore{}
	}
	k := o.more
	k.alone, k.nodes, k.counts = &node{}, 0, make(map[string]int32)
	o.eachPattern(t, func(p string) {
		if k.counts[p]++; k.counts[p] == 1 {
			k.alone.insert(p, ownedPattern)
		}
	})
	k.alone.eachBelow(func(*node) { k.nodes++ })
	o.settle(&t.root)
}

// settle names o's nodes on the shared trie once they are more than its
// bound, and takes the names off once they are no more than half of it.
// Naming or unnaming all of them looks each up from the root, some
// 26,000 steps for an address's 257 nodes along patterns of 100 tokens,
// so an owner must add or drop a quarter of its bound in patterns
// between two: with names taken off at the bound, one address moving
// its nodes across it with a subscribe and an unsubscribe made each
// pair cost 1.6 to 3.1 ms under the trie's lock, where 8a2e897 took 6
// to 9 µs (BenchmarkPatternSubscribe/deep-at-bound).
func (o *walkOwner) settle(shared *node) {
	k := o.more
	over := k.nodes > o.bound
	if k.named {
		over = 2*k.nodes > o.bound
	}
	if over != k.named {
		k.named = over
		k.alone.eachBelow(func(n *node) { o.rename(shared, n.path, over) })
	}
}

// rename names o on the shared trie's node at path, or takes its name
// off. The node is there: a node of o's trie is one of the shared trie,
// whose patterns include o's.
func (o *walkOwner) rename(shared *node, path string, name bool) {
	n := shared.find(path)
	if n == nil {
		return
	}
	if name {
		if n.owners == nil {
			n.owners = new([]*walkOwner)
		}
		*n.owners = append(*n.owners, o)
		return
	}
	if n.owners == nil {
		return
	}
	owners := *n.owners
	if i := slices.Index(owners, o); i >= 0 {
		last := len(owners) - 1
		owners[i] = owners[last]
		owners[last] = nil
		*n.owners = owners[:last]
	}
	if len(*n.owners) == 0 {
		n.owners = nil
	}
}
