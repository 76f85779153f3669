package redis

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// randomPattern builds a valid wildcard pattern of 1 to 4 tokens from a
// small alphabet, so that patterns and topics often overlap.
func randomPattern(r *rand.Rand) string {
	for {
		toks := make([]string, 1+r.IntN(4))
		for i := range toks {
			switch r.IntN(4) {
			case 0:
				toks[i] = "*"
			default:
				toks[i] = string(rune('a' + r.IntN(3)))
			}
		}
		if r.IntN(3) == 0 {
			toks[len(toks)-1] = ">"
		}
		if p := strings.Join(toks, "."); broker.IsPattern(p) {
			return p
		}
	}
}

func randomTopic(r *rand.Rand) string {
	toks := make([]string, 1+r.IntN(5))
	for i := range toks {
		toks[i] = string(rune('a' + r.IntN(3)))
	}
	return strings.Join(toks, ".")
}

func TestPatternTrieMatchesLikeBrokerMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var trie patternTrie
		held := map[string]bool{}
		for range 1 + r.IntN(8) {
			p := randomPattern(r)
			trie.insert(p)
			held[p] = true
		}
		for p := range held { // remove about half of them again
			if r.IntN(2) == 0 {
				trie.remove(p)
				delete(held, p)
			}
		}
		for range 50 {
			topic := randomTopic(r)
			want := false
			for p := range held {
				want = want || broker.Match(p, topic)
			}
			if got := trie.match(topic); got != want {
				t.Fatalf("round %d: patterns %v, topic %q: trie says %v, broker.Match %v", round, keysOf(held), topic, got, want)
			}
		}
	}
}

func TestPatternTrieShrinksToEmpty(t *testing.T) {
	var trie patternTrie
	patterns := []string{">", "a.>", "a.*", "a.*.b", "*.b.>", "a.b.c.*"}
	for _, p := range patterns {
		trie.insert(p)
	}
	for _, p := range patterns {
		trie.remove(p)
	}
	if !trie.root.empty() {
		t.Fatalf("trie holds nodes after every pattern was removed: %+v", trie.root)
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
