package broker

import "testing"

// BenchmarkPatternSubscribe subscribes a connection of a client address
// to a pattern and unsubscribes it again: "few" with one other pattern
// held, "many" with 40 that nearly match a topic, enough for the
// connection's patterns alone to be kept in a trie of their own
// (walkowners.go).
func BenchmarkPatternSubscribe(b *testing.B) {
	for _, bc := range []struct {
		name     string
		patterns []string
	}{{"few", []string{"chat.>"}}, {"many", nearlyOverlappingPatterns(40)}} {
		b.Run(bc.name, func(b *testing.B) {
			br, _ := newTestBroker(b, Config{MaxSubscriptions: 100})
			s := br.Connect(&countConn{}, ClientInfo{RemoteAddr: "192.0.2.1:1000"})
			for _, p := range bc.patterns {
				br.index(&subscription{session: s, pattern: p})
			}
			b.ReportAllocs()
			for b.Loop() {
				sub := &subscription{session: s, pattern: "a.b.c.*.e"}
				br.index(sub)
				br.unindex(sub)
			}
		})
	}
}
