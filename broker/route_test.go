package broker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// addSub indexes a subscription of s to pattern, set up without a worker:
// live from start when live, else still being set up.
func addSub(b *Broker, s *Session, pattern string, start Position, live bool) *subscription {
	sub := newSubscription(s, pattern, true)
	sub.start = start
	s.mu.Lock()
	s.addLocked(sub)
	s.mu.Unlock()
	b.index(sub)
	if live {
		b.goLive(sub, subStart{pos: start})
	}
	return sub
}

// overlappingPatterns returns n distinct patterns that all match topic
// (from overlapTopic): its tokens with '*' in place of the ones whose bit
// is set in 1..n, some ending in '>'.
func overlappingPatterns(n int) []string {
	toks := strings.Split(overlapTopic, ".")
	out := make([]string, 0, n)
	for i := 1; len(out) < n; i++ {
		p := slices.Clone(toks)
		for j := range p {
			if i&(1<<j) != 0 {
				p[j] = "*"
			}
		}
		if i%3 == 0 {
			p[len(p)-1] = ">"
		}
		out = append(out, strings.Join(p, "."))
	}
	return out
}

const overlapTopic = "a.b.c.d.e.f.g.h.i.j.k.l.m.n" // 14 tokens, as in the attack

// delivered summarises what c got after its welcome: seq, tagged p<seq>
// when it came through a pattern.
func delivered(c *fakeConn) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		switch {
		case m["type"] == "message" && m["pattern"] != nil:
			out = append(out, fmt.Sprint("p", m["seq"]))
		case m["type"] == "message":
			out = append(out, fmt.Sprint(m["seq"]))
		}
	}
	return out
}

func msg(topic string, seq uint64) *Message {
	return &Message{Topic: topic, Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)}
}

// TestManyMatchingSubscriptionsDeliverOnce: whatever number of one
// connection's subscriptions match, up to MaxMatchingPatterns patterns,
// it gets each message once, through the exact topic when it has it.
func TestManyMatchingSubscriptionsDeliverOnce(t *testing.T) {
	tests := []struct {
		name     string
		patterns int
		exact    bool
		want     []string
	}{
		{"one pattern", 1, false, []string{"p1", "p2"}},
		{"many patterns", MaxMatchingPatterns, false, []string{"p1", "p2"}},
		{"exact and many patterns", MaxMatchingPatterns, true, []string{"1", "2"}},
		{"exact alone", 0, true, []string{"1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBroker(t, Config{})
			conns := []*fakeConn{newFakeConn(t), newFakeConn(t)}
			for _, c := range conns {
				s := b.Connect(c, ClientInfo{})
				if tt.exact {
					addSub(b, s, overlapTopic, Position{Epoch: "e"}, true)
				}
				for _, p := range overlappingPatterns(tt.patterns) {
					addSub(b, s, p, Position{}, true)
				}
			}
			b.HandleMessage(msg(overlapTopic, 1))
			b.HandleMessage(msg(overlapTopic, 2))
			for i, c := range conns {
				if got := delivered(c); !slices.Equal(got, tt.want) {
					t.Errorf("connection %d got %v, want %v", i, got, tt.want)
				}
			}
		})
	}
}

// TestPatternDeliversWhileExactIsSetUp: an exact subscription being set up
// leaves live messages to the connection's pattern, and does not send
// them again when it goes live. Other connections with only the topic
// make the fan-out note the routes of the pattern's connections rather
// than those of the topic's.
func TestPatternDeliversWhileExactIsSetUp(t *testing.T) {
	forEachOthers(t, func(t *testing.T, b *Broker) {
		c := newFakeConn(t)
		s := b.Connect(c, ClientInfo{})
		addSub(b, s, "room.*", Position{}, true)
		addSub(b, s, "room.>", Position{}, true)
		exact := addSub(b, s, "room.a", Position{}, false)
		b.HandleMessage(msg("room.a", 1))
		b.HandleMessage(msg("room.a", 2))
		b.goLive(exact, subStart{pos: Position{Epoch: "e", Seq: 1}})
		b.HandleMessage(msg("room.a", 3))
		if got, want := delivered(c), []string{"p1", "p2", "3"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// TestPatternDeliversWhatCameBeforeThePlainStart: a message older than a
// plain exact subscription's start that fan-out brings after it went live
// is not the subscription's, but the connection's pattern still owes it.
func TestPatternDeliversWhatCameBeforeThePlainStart(t *testing.T) {
	forEachOthers(t, func(t *testing.T, b *Broker) {
		c := newFakeConn(t)
		s := b.Connect(c, ClientInfo{})
		addSub(b, s, "room.*", Position{}, true)
		addSub(b, s, "room.a", Position{Epoch: "e", Seq: 2}, true)
		for seq := uint64(1); seq <= 3; seq++ {
			b.HandleMessage(msg("room.a", seq))
		}
		if got, want := delivered(c), []string{"p1", "p2", "3"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// forEachOthers runs body with no other connection, then with three that
// subscribe to room.a only.
func forEachOthers(t *testing.T, body func(t *testing.T, b *Broker)) {
	for _, others := range []int{0, 3} {
		t.Run(fmt.Sprint(others, " others"), func(t *testing.T) {
			b, _ := newTestBroker(t, Config{})
			for range others {
				addSub(b, b.Connect(&countConn{}, ClientInfo{}), "room.a", Position{Epoch: "e"}, true)
			}
			body(t, b)
		})
	}
}

// TestTooManyMatchingPatternsClose: a connection with MaxMatchingPatterns
// patterns matching a topic gets its messages; one with more (1,000 in
// the attack, subscribed in the order that once made the fan-out scan the
// session's subscriptions for each matched entry) gets the first once, is
// closed with 1008, and its subscriptions leave the index at once, so
// the next messages walk none of them, whether or not its client reads
// its close.
func TestTooManyMatchingPatternsClose(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 2000})
	counts := []int{MaxMatchingPatterns, MaxMatchingPatterns + 1, 1000}
	conns := make([]*fakeConn, len(counts))
	for i, n := range counts {
		conns[i] = newFakeConn(t)
		s := b.Connect(conns[i], ClientInfo{})
		for _, p := range reverseMatchOrder(overlappingPatterns(n), overlapTopic) {
			addSub(b, s, p, Position{}, true)
		}
	}
	const n = 3
	for seq := uint64(1); seq <= n; seq++ {
		b.HandleMessage(msg(overlapTopic, seq))
	}
	if got, want := delivered(conns[0]), []string{"p1", "p2", "p3"}; !slices.Equal(got, want) {
		t.Errorf("the connection at the bound got %v, want %v", got, want)
	}
	if code := conns[0].code(); code != 0 {
		t.Errorf("the connection at the bound was closed with %d", code)
	}
	for i, c := range conns[1:] {
		if got, want := delivered(c), []string{"p1"}; !slices.Equal(got, want) {
			t.Errorf("connection %d over the bound got %v, want %v", i+1, got, want)
		}
		if code := c.code(); code != ClosePolicyViolation {
			t.Errorf("connection %d over the bound: close %d, want %d", i+1, code, ClosePolicyViolation)
		}
	}
	if got := b.idx.match(overlapTopic, nil); len(got) != MaxMatchingPatterns {
		t.Errorf("%d patterns still match the topic, want the %d of the connection at the bound", len(got), MaxMatchingPatterns)
	}
	if got := b.Stats().Subscriptions; got != MaxMatchingPatterns {
		t.Errorf("%d subscriptions indexed, want %d", got, MaxMatchingPatterns)
	}
}

// reverseMatchOrder returns patterns in the reverse of the order in which
// the index matches them against topic: the worst order for a fan-out
// that looks for the session's earlier matches among its subscriptions.
func reverseMatchOrder(patterns []string, topic string) []string {
	ix := newIndex()
	for _, p := range patterns {
		ix.add(newSub(p))
	}
	var out []string
	for _, e := range ix.match(topic, nil) {
		out = append(out, e.pattern)
	}
	slices.Reverse(out)
	return out
}

// BenchmarkFanoutOverlappingPatterns: connections holding n patterns
// that all match the published topic, n up to MaxMatchingPatterns; the
// picks of "600x16" are too many to be kept, so each publish walks them
// all (9,600 subscriptions for 600 deliveries), and those of "2000x2",
// the walk of connections with a few patterns each ("chat.*" and
// "chat.>"), which counts no connection's patterns.
func BenchmarkFanoutOverlappingPatterns(b *testing.B) {
	for _, bc := range []struct {
		name            string
		conns, patterns int
	}{{"1", 1, 1}, {"16", 1, MaxMatchingPatterns}, {"600x1", 600, 1}, {"600x16", 600, MaxMatchingPatterns}, {"2000x2", 2000, 2}} {
		b.Run(bc.name, func(b *testing.B) {
			br, _ := newTestBroker(b, Config{MaxSubscriptions: bc.patterns})
			conn := &countConn{}
			for range bc.conns {
				s := br.Connect(conn, ClientInfo{})
				for _, p := range overlappingPatterns(bc.patterns) {
					addSub(br, s, p, Position{}, true)
				}
			}
			m := &Message{Topic: overlapTopic, Epoch: "e", ID: "0b3e8f0e-6c1b-4f4e-9d7c-1f2e3d4c5b6a", Time: 1764074400123, Data: []byte(`{"text":"hi"}`)}
			b.ReportAllocs()
			for b.Loop() {
				m.Seq++
				br.HandleMessage(m)
			}
		})
	}
}

// TestOverlapFanoutAllocsDoNotGrowWithSubscribers: one message to 100 or
// to 2,000 connections that each have the topic and two patterns matching
// it costs the same allocations (the frames), once the pooled maps grew.
func TestOverlapFanoutAllocsDoNotGrowWithSubscribers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled scratch at random")
	}
	var allocs [2]float64
	for i, n := range []int{100, 2000} {
		b, _ := newTestBroker(t, Config{})
		conn := &countConn{}
		for range n {
			s := b.Connect(conn, ClientInfo{})
			for _, p := range []string{"t.a", "t.*", "t.>"} {
				addSub(b, s, p, Position{Epoch: "e"}, true)
			}
		}
		conn.frames.Store(0)
		var seq uint64
		allocs[i] = testing.AllocsPerRun(50, func() {
			seq++
			b.HandleMessage(msg("t.a", seq))
		})
		if got := conn.frames.Load(); got != int64(n)*51 {
			t.Fatalf("%d connections got %d frames", n, got)
		}
	}
	if allocs[1] > allocs[0]+1 {
		t.Errorf("allocations grow with subscribers: %v", allocs)
	}
}
