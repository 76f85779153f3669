package broker

import (
	"fmt"
	"testing"
)

// BenchmarkPatternSubscribe subscribes a connection of a client address
// to a pattern and unsubscribes it again: "few" with one other pattern
// held, "many" with 40 that nearly match a topic, enough for the
// connection's patterns alone to be kept in a trie of their own
// (walkowners.go), and "deep-at-bound" beside connections of its address
// whose patterns, of up to 120 tokens, alone make MaxWalkedNodesPerAddress
// nodes, so that each subscribe takes the address over its bound and
// each unsubscribe back to it.
func BenchmarkPatternSubscribe(b *testing.B) {
	for _, bc := range []struct {
		name    string
		pattern string
		setup   func(*Broker, ClientInfo) *Session
	}{
		{"few", "a.b.c.*.e", func(br *Broker, info ClientInfo) *Session { return holding(br, info, "chat.>") }},
		{"many", "a.b.c.*.e", func(br *Broker, info ClientInfo) *Session {
			return holding(br, info, nearlyOverlappingPatterns(40)...)
		}},
		{"deep-at-bound", chainPattern(101) + ".zz", func(br *Broker, info ClientInfo) *Session {
			var chain, leaves []string
			for n := 1; n <= 120; n++ {
				chain = append(chain, chainPattern(n))
			}
			holding(br, info, chain...)
			for k := range MaxWalkedNodesPerAddress - 120 {
				leaves = append(leaves, fmt.Sprintf("%s.y%d", chainPattern(101), k))
			}
			for len(leaves) > 0 { // under MaxWalkedNodes each
				n := min(len(leaves), MaxWalkedNodes-1)
				holding(br, info, leaves[:n]...)
				leaves = leaves[n:]
			}
			return holding(br, info)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br, _ := newTestBroker(b, Config{MaxSubscriptions: 1000})
			s := bc.setup(br, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
			b.ReportAllocs()
			for b.Loop() {
				sub := &subscription{session: s, pattern: bc.pattern}
				br.index(sub)
				br.unindex(sub)
			}
		})
	}
}

// holding connects a session of info's address subscribed to patterns.
func holding(br *Broker, info ClientInfo, patterns ...string) *Session {
	s := br.Connect(&countConn{}, info)
	for _, p := range patterns {
		br.index(&subscription{session: s, pattern: p})
	}
	return s
}
