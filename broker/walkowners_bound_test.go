package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// chainPattern is "*.x. ... .x", of n tokens: the patterns of 1 to n
// tokens make a trie of n nodes, one below the other.
func chainPattern(n int) string {
	return "*" + strings.Repeat(".x", n-1)
}

// namedOn is how many of the trie's nodes name s's owner.
func namedOn(b *Broker, s *Session) int {
	pt := &b.idx.patterns
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	named := 0
	pt.root.eachBelow(func(n *node) {
		if n.owners != nil {
			for _, o := range *n.owners {
				named += boolInt(o == pt.sessions[s])
			}
		}
	})
	return named
}

// TestAnOwnerBackUnderItsBoundKeepsItsNames: a connection whose patterns
// alone make MaxWalkedNodes+1 nodes, one below the other, is named on
// them; taking one pattern back leaves it named on the MaxWalkedNodes
// left, so that moving across the bound with one pattern does not name
// and unname all its nodes at every step, and it is still not closed at
// a message that walks them all. Once its nodes are half the bound, it is
// named on none.
func TestAnOwnerBackUnderItsBoundKeepsItsNames(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
	c := connect(t, b, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
	var subs []*subscription
	for n := 1; n <= MaxWalkedNodes+1; n++ {
		subs = append(subs, addSub(b, c.s, chainPattern(n), Position{Epoch: "e"}, true))
	}
	if got := namedOn(b, c.s); got != MaxWalkedNodes+1 {
		t.Fatalf("named on %d nodes, want %d", got, MaxWalkedNodes+1)
	}
	for n := MaxWalkedNodes + 1; n > MaxWalkedNodes/2; n-- {
		dropSub(b, c.s, subs[n-1])
		want := n - 1
		if 2*want <= MaxWalkedNodes {
			want = 0
		}
		if got := namedOn(b, c.s); got != want {
			t.Fatalf("with %d patterns: named on %d nodes, want %d", n-1, got, want)
		}
		if n == MaxWalkedNodes+1 {
			b.HandleMessage(msg(strings.TrimSuffix(strings.Repeat("x.", MaxWalkedNodes+1), "."), 1))
			if code := c.code(); code != 0 {
				t.Fatalf("closed with %d at its bound", code)
			}
		}
	}
}

// TestWalkOwnersLeaveWithTheirConnections: connections of three addresses
// come, subscribe to and leave random patterns, and go; after every step
// each owner holds what its connections hold, and once all are gone no
// owner is left.
func TestWalkOwnersLeaveWithTheirConnections(t *testing.T) {
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 31))
		b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
		held := make(map[*client]map[string]*subscription)
		var clients []*client
		for range 2000 {
			switch r := rng.IntN(20); {
			case r == 0 || len(clients) == 0:
				c := connect(t, b, ClientInfo{RemoteAddr: fmt.Sprintf("192.0.2.%d:1000", rng.IntN(3))})
				clients = append(clients, c)
				held[c] = make(map[string]*subscription)
			case r == 1:
				i := rng.IntN(len(clients))
				clients[i].s.Disconnected()
				delete(held, clients[i])
				clients = append(clients[:i], clients[i+1:]...)
			default:
				c := clients[rng.IntN(len(clients))]
				p := randomPattern(rng)
				if sub := held[c][p]; sub != nil {
					dropSub(b, c.s, sub)
					delete(held[c], p)
				} else {
					held[c][p] = addSub(b, c.s, p, Position{Epoch: "e"}, false)
				}
			}
			b.idx.patterns.mu.RLock()
			checkOwners(t, &b.idx.patterns)
			checkHeld(t, &b.idx.patterns)
			b.idx.patterns.mu.RUnlock()
		}
		for _, c := range clients {
			c.s.Disconnected()
		}
		if pt := &b.idx.patterns; len(pt.sessions) != 0 || len(pt.addresses) != 0 {
			t.Fatalf("seed %d: %d connections' and %d addresses' owners left", seed, len(pt.sessions), len(pt.addresses))
		}
	}
}

// checkOwners checks that the nodes of the trie name each owner while
// the nodes of its patterns alone are more than its bound, and, once they
// were, until they are no more than half of it, and then at their paths.
func checkOwners(t *testing.T, pt *patternTrie) {
	t.Helper()
	named := make(map[*walkOwner][]string)
	pt.root.eachBelow(func(n *node) {
		if n.owners != nil {
			for _, o := range *n.owners {
				named[o] = append(named[o], n.path)
			}
		}
	})
	owners := slices.Collect(maps.Values(pt.sessions))
	for _, a := range pt.addresses {
		if a.session == nil {
			owners = append(owners, a)
		} else if pt.sessions[a.session] != a {
			t.Fatal("an address is counted as a session that holds no pattern")
		}
	}
	for _, o := range owners {
		var alone node
		o.eachPattern(pt, func(p string) { alone.insert(p, ownedPattern) })
		var want []string
		alone.eachBelow(func(n *node) { want = append(want, n.path) })
		switch {
		case o.alone() == nil && 2*o.held > o.bound:
			t.Fatalf("an owner of %d patterns keeps no trie of them", o.held)
		case o.alone() != nil && int(o.more.nodes) != len(want):
			t.Fatalf("an owner's trie has %d nodes, counted %d", len(want), o.more.nodes)
		}
		switch {
		case o.alone() == nil, 2*len(want) <= int(o.bound):
			want = nil
		case len(want) <= int(o.bound) && !o.more.named: // named only since it passed its bound
			want = nil
		}
		got := named[o]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("an owner of %d patterns is named on %d nodes, want %d", o.held, len(got), len(want))
		}
		delete(named, o)
	}
	if len(named) != 0 {
		t.Fatalf("nodes name %d owners that hold no pattern", len(named))
	}
}

// checkHeld checks that each owner counts the patterns its connections
// hold, and that an address lists the connections of its that hold any.
func checkHeld(t *testing.T, pt *patternTrie) {
	t.Helper()
	for s, o := range pt.sessions {
		if o.session != s || int(o.held) != len(o.patterns) || len(o.patterns) == 0 {
			t.Fatalf("a connection's owner counts %d patterns and lists %d", o.held, len(o.patterns))
		}
	}
	for _, a := range pt.addresses {
		if a.session != nil {
			continue
		}
		sum := 0
		for _, s := range a.more.sessions {
			if pt.sessions[s] == nil {
				t.Fatal("an address lists a connection that holds no pattern")
			}
			sum += len(pt.sessions[s].patterns)
		}
		if sum != int(a.held) {
			t.Fatalf("an address counts %d patterns, its connections hold %d", a.held, sum)
		}
	}
}

// TestADeepPatternAllocatesAsAShortOne: beside connections of its address
// whose patterns the address keeps a trie of, a connection subscribing to
// a pattern of 101 tokens and unsubscribing again allocates no more than
// with a pattern of 5: the nodes along its route in that trie are noted
// in an array that any pattern's fit.
func TestADeepPatternAllocatesAsAShortOne(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 1000})
	info := ClientInfo{RemoteAddr: "192.0.2.1:1000"}
	var chain []string
	for n := 1; n <= 3*MaxWalkedNodes; n++ {
		chain = append(chain, chainPattern(n))
	}
	holding(b, info, chain...)
	s := holding(b, info)
	if a := b.idx.patterns.addresses[mustAddressKey(t, s)]; a.alone() == nil {
		t.Fatal("the address keeps no trie of its patterns")
	}
	allocs := func(pattern string) float64 {
		return testing.AllocsPerRun(20, func() {
			sub := &subscription{session: s, pattern: pattern}
			b.index(sub)
			b.unindex(sub)
		})
	}
	if short, deep := allocs(chainPattern(4)+".zz"), allocs(chainPattern(101)+".zz"); deep > short {
		t.Errorf("a pattern of 101 tokens took %.0f allocations, one of 5 %.0f", deep, short)
	}
}

func mustAddressKey(t *testing.T, s *Session) addressKey {
	t.Helper()
	key, ok := s.addressKey()
	if !ok {
		t.Fatal("the session has no address")
	}
	return key
}
