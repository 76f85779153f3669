package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// dropSub unsubscribes s from sub, as an unsubscribe command does.
func dropSub(b *Broker, s *Session, sub *subscription) {
	s.mu.Lock()
	s.removeLocked(sub)
	s.mu.Unlock()
	b.unindex(sub)
}

// splitters returns, for every pattern of victims and every token of it
// but its last, the pattern that follows it to that token and then takes
// tok, so that the pattern's edge in the trie is split at every token.
func splitters(victims []string, tok string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, v := range victims {
		toks := strings.Split(v, ".")
		for k := 1; k < len(toks); k++ {
			p := strings.Join(slices.Concat(toks[:k], []string{tok}), ".")
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// walkOfAlone is how many nodes the walk of topic goes through in a trie
// of patterns alone.
func walkOfAlone(patterns []string, topic string) int {
	var set PatternSet
	for _, p := range patterns {
		set.Add(p)
	}
	_, walked := set.MatchesWalked(topic)
	return walked
}

// TestAnotherClientCannotLoadItsWalkOntoAConnection: a connection holds
// MaxMatchingPatterns patterns of 14 tokens that match a topic; another
// client, of another address, splits their edges at every token with
// patterns that part from them there, two at each token, and takes one of
// the two back, 40 times over, the other each time. The connection is
// counted for no more nodes than its patterns alone make the walk go
// through, and is not closed; the other client, whose own patterns make
// the walk long, is.
func TestAnotherClientCannotLoadItsWalkOntoAConnection(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
	victims := overlappingPatterns(MaxMatchingPatterns)
	victim := connect(t, b, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
	for _, p := range victims {
		addSub(b, victim.s, p, Position{Epoch: "e"}, true)
	}
	attacker := connect(t, b, ClientInfo{RemoteAddr: "198.51.100.7:1000"})
	held := make(map[string]*subscription)
	sets := [2][]string{splitters(victims, "zz"), splitters(victims, "yy")}
	for _, p := range sets[0] {
		held[p] = addSub(b, attacker.s, p, Position{Epoch: "e"}, true)
	}
	for round := range 40 {
		for _, p := range sets[(round+1)%2] {
			held[p] = addSub(b, attacker.s, p, Position{Epoch: "e"}, true)
		}
		for _, p := range sets[round%2] {
			dropSub(b, attacker.s, held[p])
			delete(held, p)
		}
	}
	alone := walkOfAlone(victims, overlapTopic)
	if alone > MaxWalkedNodes {
		t.Fatalf("the victim's patterns alone make the walk go through %d nodes", alone)
	}
	if got := walkedFor(b, victim.s, overlapTopic); got > alone {
		t.Errorf("the victim is counted for %d nodes, its patterns alone for %d", got, alone)
	}
	b.HandleMessage(msg(overlapTopic, 1))
	if code := victim.code(); code != 0 {
		t.Errorf("the victim was closed with %d", code)
	}
	if got := delivered(victim.fakeConn); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("the victim got %v", got)
	}
	if code := attacker.code(); code != ClosePolicyViolation {
		t.Errorf("the client that split the victim's patterns: close %d, want %d", code, ClosePolicyViolation)
	}
}

// walkedFor is how many of the nodes that topic's walk goes through s is
// counted for: those at the paths of the nodes of its patterns alone.
// When its nodes are named on the trie's, those that name it must be
// the same.
func walkedFor(b *Broker, s *Session, topic string) int {
	pt := &b.idx.patterns
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	var w walkLog
	w.keep = true
	pt.root.walk(topic, nil, &w)
	o := pt.sessions[s]
	if o == nil {
		return 0
	}
	var alone node
	for _, p := range o.patterns {
		alone.insert(p, ownedPattern)
	}
	counted, named := 0, 0
	for _, n := range w.nodes {
		if alone.find(n.path) != nil {
			counted++
		}
		if n.owners != nil && slices.Contains(*n.owners, o) {
			named++
		}
	}
	if o.more != nil && o.more.named && named != counted {
		panic(fmt.Sprintf("%d nodes of the walk name the owner, %d are its", named, counted))
	}
	return counted
}

// TestWalkCountsOwnPatternsInAnyOrder: a connection whose patterns alone
// make a topic's walk go through more than MaxWalkedNodes, one whose
// patterns make it go through fewer, and one of another address that
// splits their edges, subscribe and unsubscribe in random orders; after
// every step the trie names each of them, and each address, on the nodes
// of their patterns alone as checkOwners says. Then the
// first is counted for as many nodes as its patterns alone make the walk
// go through and is closed at the topic's first message, and the others
// are left alone.
func TestWalkCountsOwnPatternsInAnyOrder(t *testing.T) {
	heavy, light := nearlyOverlappingPatterns(60), overlappingPatterns(MaxMatchingPatterns)
	noise := splitters(append(slices.Clone(heavy[:4]), light[:4]...), "zz")
	if n := walkOfAlone(heavy, overlapTopic); n <= MaxWalkedNodes {
		t.Fatalf("the heavy patterns alone make the walk go through %d nodes", n)
	}
	if n := walkOfAlone(noise, overlapTopic); n > MaxWalkedNodes {
		t.Fatalf("the splitting patterns alone make the walk go through %d nodes", n)
	}
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 13))
		b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
		conns := []*client{
			connect(t, b, ClientInfo{RemoteAddr: "192.0.2.1:1000"}),
			connect(t, b, ClientInfo{RemoteAddr: "192.0.2.2:1000"}),
			connect(t, b, ClientInfo{RemoteAddr: "198.51.100.7:1000"}),
		}
		type op struct {
			c       int
			pattern string
		}
		var todo []op
		for c, set := range [][]string{heavy, light, noise} {
			for _, p := range set {
				todo = append(todo, op{c, p})
			}
		}
		rng.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
		held := make(map[op]*subscription)
		for steps := 0; len(todo) > 0; steps++ {
			next := todo[0]
			todo = todo[1:]
			held[next] = addSub(b, conns[next.c].s, next.pattern, Position{Epoch: "e"}, true)
			if steps < 400 && rng.IntN(3) == 0 { // take one back, to subscribe again later
				all := slices.Collect(maps.Keys(held))
				slices.SortFunc(all, func(x, y op) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
				back := all[rng.IntN(len(all))]
				dropSub(b, conns[back.c].s, held[back])
				delete(held, back)
				todo = append(todo, back)
			}
			b.idx.patterns.mu.RLock()
			checkOwners(t, &b.idx.patterns)
			b.idx.patterns.mu.RUnlock()
		}
		if got, alone := walkedFor(b, conns[0].s, overlapTopic), walkOfAlone(heavy, overlapTopic); got > alone || got <= MaxWalkedNodes {
			t.Errorf("seed %d: the heavy connection is counted for %d nodes, its patterns alone %d", seed, got, alone)
		}
		b.HandleMessage(msg(overlapTopic, 1))
		for i, want := range []int{ClosePolicyViolation, 0, 0} {
			if code := conns[i].code(); code != want {
				t.Errorf("seed %d: connection %d closed with %d, want %d", seed, i, code, want)
			}
		}
	}
}

// TestAnAddressOfOnePatternAConnectionIsBounded: 200 connections of one
// address hold one pattern each that nearly matches a topic; none of them
// would make the walk long alone, but together they make it go through
// some 400 nodes, where they part from each other. The first message
// closes enough of them that the walk goes through no more than
// MaxWalkedNodesPerAddress, and leaves the rest open.
func TestAnAddressOfOnePatternAConnectionIsBounded(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	var conns []*client
	for _, p := range nearlyOverlappingPatterns(200) {
		c := connect(t, b, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
		addSub(b, c.s, p, Position{Epoch: "e"}, true)
		conns = append(conns, c)
	}
	var before walkLog
	if b.idx.patterns.root.walk(overlapTopic, nil, &before); before.count <= MaxWalkedNodesPerAddress {
		t.Fatalf("the walk goes through %d nodes, not over %d", before.count, MaxWalkedNodesPerAddress)
	}
	b.HandleMessage(msg(overlapTopic, 1))
	closed := 0
	for _, c := range conns {
		if c.code() == ClosePolicyViolation {
			closed++
		}
	}
	var after walkLog
	if b.idx.patterns.root.walk(overlapTopic, nil, &after); after.count > MaxWalkedNodesPerAddress || closed == len(conns) {
		t.Errorf("%d of %d connections closed, the walk goes through %d nodes after, from %d", closed, len(conns), after.count, before.count)
	}
}

// TestWalkOwnersFollowRandomPatterns: four connections of two addresses
// subscribe to and unsubscribe from random patterns of up to five tokens
// of "a", "b" and '*', some ending in '>', enough for their owners to keep
// tries of their patterns and pass their bounds; after every step the
// trie names the owners on the nodes of their patterns alone as
// checkOwners says.
func TestWalkOwnersFollowRandomPatterns(t *testing.T) {
	named := 0
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 29))
		b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
		var sessions []*Session
		for i := range 4 {
			sessions = append(sessions, b.Connect(newFakeConn(t), ClientInfo{RemoteAddr: fmt.Sprintf("192.0.2.%d:1000", i%2)}))
		}
		held := make([]map[string]*subscription, len(sessions))
		for i := range held {
			held[i] = make(map[string]*subscription)
		}
		for range 1000 {
			i := rng.IntN(len(sessions))
			p := randomPattern(rng)
			if sub := held[i][p]; sub != nil {
				dropSub(b, sessions[i], sub)
				delete(held[i], p)
			} else if rng.IntN(4) != 0 {
				held[i][p] = addSub(b, sessions[i], p, Position{Epoch: "e"}, false)
			}
			b.idx.patterns.mu.RLock()
			checkOwners(t, &b.idx.patterns)
			for _, o := range b.idx.patterns.sessions {
				named += boolInt(o.more != nil && o.more.named)
			}
			b.idx.patterns.mu.RUnlock()
		}
	}
	if named == 0 {
		t.Error("no connection's nodes were ever named on the trie's")
	}
}

func randomPattern(rng *rand.Rand) string {
	toks := make([]string, 1+rng.IntN(5))
	for j := range toks {
		toks[j] = []string{"a", "b", "*"}[rng.IntN(3)]
	}
	if rng.IntN(4) == 0 {
		toks = append(toks, ">")
	}
	return strings.Join(toks, ".")
}
