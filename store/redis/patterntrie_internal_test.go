package redis

import (
	"fmt"
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

func TestGlobsAreBoundedAndCounted(t *testing.T) {
	k := keys{prefix: "p:"}
	var g globs
	for i := range 1000 {
		g.add(k, fmt.Sprintf("f%d.*", i))
		g.add(k, fmt.Sprintf("f%d.x.>", i))
	}
	g.add(k, "*.y")
	if n := len(g.all()); n > maxGlobs {
		t.Fatalf("%d globs for 2,001 patterns, want at most %d", n, maxGlobs)
	}
	if _, unused := g.remove("f0.*"); unused {
		t.Fatal("the glob of f0.* reported unused while f0.x.> holds it")
	}
	if glob, unused := g.remove("f0.x.>"); !unused || glob != "p:m.f0.*" {
		t.Fatalf("last pattern of f0: glob %q unused %v, want p:m.f0.* unused", glob, unused)
	}
	if glob := g.add(k, "new.*"); glob != "p:m.new.*" {
		t.Fatalf("a freed slot went to glob %q, want p:m.new.*", glob)
	}
	if _, unused := g.remove("never.*"); unused {
		t.Fatal("removing a pattern never added freed a glob")
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
