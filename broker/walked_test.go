package broker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// nearlyOverlappingPatterns returns n distinct patterns that follow
// overlapTopic token by token, '*' in place of the tokens whose bit is set
// in 0..n-1, and part from it at its last token, so that none matches it
// but its match goes through every one.
func nearlyOverlappingPatterns(n int) []string {
	toks := strings.Split(overlapTopic, ".")
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		p := slices.Clone(toks)
		for j := range len(p) - 1 {
			if i&(1<<j) != 0 {
				p[j] = "*"
			}
		}
		p[len(p)-1] = "zz"
		out = append(out, strings.Join(p, "."))
	}
	return out
}

// TestPatternsThatMakeAMatchLongClose: a connection holding 1,000
// patterns that follow a topic nearly to its end, none matching it, is
// closed with 1008 at the topic's first message and its subscriptions
// leave the index, so that the next messages' match goes through none of
// them; a connection with MaxMatchingPatterns patterns that match the
// topic, and one with a few that nearly do, are left alone and get the
// messages as before.
func TestPatternsThatMakeAMatchLongClose(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 2000})
	sets := [][]string{
		nearlyOverlappingPatterns(1000),
		overlappingPatterns(MaxMatchingPatterns),
		append(nearlyOverlappingPatterns(MaxMatchingPatterns), overlapTopic),
	}
	conns := make([]*fakeConn, len(sets))
	for i, patterns := range sets {
		conns[i] = newFakeConn(t)
		s := b.Connect(conns[i], ClientInfo{})
		for _, p := range patterns {
			addSub(b, s, p, Position{Epoch: "e"}, true)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		b.HandleMessage(msg(overlapTopic, seq))
	}
	if code := conns[0].code(); code != ClosePolicyViolation {
		t.Errorf("the connection whose patterns nearly match: close %d, want %d", code, ClosePolicyViolation)
	}
	if got := delivered(conns[0]); len(got) != 0 {
		t.Errorf("the connection whose patterns nearly match got %v", got)
	}
	if got, want := delivered(conns[1]), []string{"p1", "p2", "p3"}; !slices.Equal(got, want) {
		t.Errorf("the connection with %d matching patterns got %v, want %v", MaxMatchingPatterns, got, want)
	}
	if got, want := delivered(conns[2]), []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("the connection with a few patterns that nearly match got %v, want %v", got, want)
	}
	for i, c := range conns[1:] {
		if code := c.code(); code != 0 {
			t.Errorf("connection %d was closed with %d", i+1, code)
		}
	}
	want := int64(len(sets[1]) + len(sets[2]))
	if got := b.Stats().Subscriptions; got != want {
		t.Errorf("%d subscriptions indexed, want %d", got, want)
	}
	var walked walkLog
	b.idx.patterns.root.walk(overlapTopic, nil, &walked)
	if walked.count > 2*MaxWalkedNodes {
		t.Errorf("the topic's match still goes through %d nodes", walked.count)
	}
}

// TestPatternsOfOneAddressThatMakeAMatchLongClose: 20 connections of one
// address, each under MaxWalkedNodes with 31 patterns that nearly match a
// topic, together make its match go through some 1,200 nodes; the heaviest
// of them are closed at the topic's first message until the rest of the
// address's are counted for no more than MaxWalkedNodesPerAddress, and a
// connection of the address that holds one pattern matching the topic, and
// one of another address with 31 such patterns, are left alone.
func TestPatternsOfOneAddressThatMakeAMatchLongClose(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 2000})
	const heavy, each = 20, 31
	near := nearlyOverlappingPatterns((heavy + 1) * each)
	connect := func(addr string, patterns []string) *fakeConn {
		c := newFakeConn(t)
		s := b.Connect(c, ClientInfo{RemoteAddr: addr})
		for _, p := range patterns {
			addSub(b, s, p, Position{Epoch: "e"}, true)
		}
		return c
	}
	var heavies []*fakeConn
	for k := range heavy {
		heavies = append(heavies, connect("192.0.2.1:1000", near[k*each:(k+1)*each]))
	}
	light := connect("192.0.2.1:1001", []string{"a.b.>"})
	other := connect("198.51.100.7:1000", near[heavy*each:])
	b.HandleMessage(msg(overlapTopic, 1))
	b.HandleMessage(msg(overlapTopic, 2))
	closed := 0
	for _, c := range heavies {
		if c.code() == ClosePolicyViolation {
			closed++
		}
	}
	if closed == 0 || closed == heavy {
		t.Errorf("%d of the address's %d heavy connections were closed", closed, heavy)
	}
	for name, c := range map[string]*fakeConn{"the light one": light, "the other address's": other} {
		if code := c.code(); code != 0 {
			t.Errorf("%s was closed with %d", name, code)
		}
	}
	if got, want := delivered(light), []string{"p1", "p2"}; !slices.Equal(got, want) {
		t.Errorf("the light connection got %v, want %v", got, want)
	}
	var walked walkLog
	b.idx.patterns.root.walk(overlapTopic, nil, &walked)
	if limit := MaxWalkedNodesPerAddress + 2*each + 2; walked.count > limit {
		t.Errorf("the topic's match still goes through %d nodes, over %d", walked.count, limit)
	}
}

// longWalkBroker has n connections, each of its own address, holding
// "a.>", which matches overlapTopic, and two more, of two other addresses,
// holding 31 patterns each that nearly match it: under MaxWalkedNodes
// each, and under MaxWalkedNodesPerAddress, but together they make the
// topic's walk go through 125 nodes, so that every message of it is
// counted.
func longWalkBroker(tb testing.TB, n int) (*Broker, *countConn) {
	b, _ := newTestBroker(tb, Config{MaxSubscriptions: 100})
	conn := &countConn{}
	for i := range n {
		s := b.Connect(conn, ClientInfo{RemoteAddr: fmt.Sprintf("10.0.%d.%d:1000", i>>8, i&255)})
		addSub(b, s, "a.>", Position{Epoch: "e"}, true)
	}
	near := nearlyOverlappingPatterns(62)
	for k := range 2 {
		s := b.Connect(conn, ClientInfo{RemoteAddr: fmt.Sprintf("192.0.2.%d:1000", k)})
		for _, p := range near[k*31 : (k+1)*31] {
			addSub(b, s, p, Position{Epoch: "e"}, true)
		}
	}
	conn.frames.Store(0)
	return b, conn
}

// TestLongWalkAllocsDoNotGrowWithSubscribers: a message whose walk is
// counted (longWalkBroker) costs the same allocations whether 100 or
// 2,000 connections hold the pattern that matches it, and all of them
// get it.
func TestLongWalkAllocsDoNotGrowWithSubscribers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled scratch at random")
	}
	var allocs [2]float64
	for i, n := range []int{100, 2000} {
		b, conn := longWalkBroker(t, n)
		var walked walkLog
		if b.idx.patterns.root.walk(overlapTopic, nil, &walked); walked.count <= MaxWalkedNodes {
			t.Fatalf("the walk goes through %d nodes, not over %d", walked.count, MaxWalkedNodes)
		}
		var seq uint64
		allocs[i] = testing.AllocsPerRun(50, func() {
			seq++
			b.HandleMessage(msg(overlapTopic, seq))
		})
		if got := conn.frames.Load(); got != int64(n)*51 {
			t.Fatalf("%d connections got %d frames", n, got)
		}
	}
	if allocs[1] > allocs[0]+1 {
		t.Errorf("allocations grow with subscribers: %v", allocs)
	}
}

// BenchmarkFanoutThroughALongWalk: a message to 2,000 connections holding
// "a.>", "short" alone, "long" with longWalkBroker's two connections that
// make every message's walk counted.
func BenchmarkFanoutThroughALongWalk(b *testing.B) {
	for _, long := range []bool{false, true} {
		name := "short"
		if long {
			name = "long"
		}
		b.Run(name, func(b *testing.B) {
			var br *Broker
			if long {
				br, _ = longWalkBroker(b, 2000)
			} else {
				br, _ = newTestBroker(b, Config{})
				for i := range 2000 {
					s := br.Connect(&countConn{}, ClientInfo{RemoteAddr: fmt.Sprintf("10.0.%d.%d:1000", i>>8, i&255)})
					addSub(br, s, "a.>", Position{Epoch: "e"}, true)
				}
			}
			m := msg(overlapTopic, 0)
			b.ReportAllocs()
			for b.Loop() {
				m.Seq++
				br.HandleMessage(m)
			}
		})
	}
}

// TestAnAddressIsBroughtUnderItsBoundAtOnce: 20 connections of one
// address, each holding 25 patterns that nearly match a topic alike and 7
// of its own (64 nodes each), make its walk go through 326 nodes; the
// first message closes enough of them that the walk goes through no more
// than MaxWalkedNodesPerAddress after it, though the nodes of the shared
// patterns stay with the others.
func TestAnAddressIsBroughtUnderItsBoundAtOnce(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 100})
	const conns, shared, own = 20, 25, 7
	near := nearlyOverlappingPatterns(shared + conns*own)
	var open []*fakeConn
	for k := range conns {
		c := newFakeConn(t)
		s := b.Connect(c, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
		for _, p := range slices.Concat(near[:shared], near[shared+k*own:shared+(k+1)*own]) {
			addSub(b, s, p, Position{Epoch: "e"}, true)
		}
		open = append(open, c)
	}
	var before walkLog
	if b.idx.patterns.root.walk(overlapTopic, nil, &before); before.count <= MaxWalkedNodesPerAddress {
		t.Fatalf("the walk goes through %d nodes, not over %d", before.count, MaxWalkedNodesPerAddress)
	}
	b.HandleMessage(msg(overlapTopic, 1))
	closed := 0
	for _, c := range open {
		if c.code() == ClosePolicyViolation {
			closed++
		}
	}
	var after walkLog
	if b.idx.patterns.root.walk(overlapTopic, nil, &after); after.count > MaxWalkedNodesPerAddress {
		t.Errorf("after the first message (%d of %d connections closed) the walk goes through %d nodes, over %d",
			closed, conns, after.count, MaxWalkedNodesPerAddress)
	}
	if closed == conns {
		t.Error("every connection of the address was closed")
	}
}
