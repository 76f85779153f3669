package broker

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// trieSet is a pattern trie with the patterns it holds, to check against
// Match.
type trieSet struct {
	root node
	live map[string]*entry
}

func newTrieSet() *trieSet { return &trieSet{live: make(map[string]*entry)} }

func (ts *trieSet) add(p string) {
	if ts.live[p] == nil {
		e := &entry{pattern: p}
		ts.live[p] = e
		ts.root.insert(p, e)
	}
}

func (ts *trieSet) remove(p string) {
	if ts.live[p] != nil {
		delete(ts.live, p)
		ts.root.remove(p)
	}
}

// check compares the trie's matches for topic with Match over every live
// pattern, and the trie's shape with its rules. It returns how many
// patterns matched, so that a caller can tell it compared something.
func (ts *trieSet) check(t *testing.T, topic string) (matched int) {
	t.Helper()
	var got, want []string
	for _, e := range ts.root.match(topic, nil) {
		got = append(got, e.pattern)
	}
	for p := range ts.live {
		if Match(p, topic) {
			want = append(want, p)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("match(%q) = %q, Match says %q", topic, got, want)
	}
	if n := checkNode(t, &ts.root, true); n > 2*len(ts.live)+1 {
		t.Fatalf("%d nodes for %d patterns", n, len(ts.live))
	}
	return len(want)
}

// checkNode checks the rules of the nodes below n and counts them: a label
// of whole tokens that are literals or '*', reached by its first token,
// and no node but the root left without a pattern and with one branch.
func checkNode(t *testing.T, n *node, root bool) int {
	t.Helper()
	branches := len(n.next) + boolInt(n.star != nil)
	if !root && n.leaf == nil && n.tail == nil && branches < 2 {
		t.Fatalf("node %q has no pattern and %d branches", n.label(), branches)
	}
	count := 1
	visit := func(key string, c *node) {
		l := c.label()
		if tok, _ := nextToken(l); tok != key || !ValidPattern(l) || strings.Contains(l, ">") {
			t.Fatalf("branch %q leads to label %q", key, l)
		}
		if !strings.HasSuffix(c.path, l) || (c.from > 0 && c.path[c.from-1] != '.') {
			t.Fatalf("label %q is not a run of tokens of path %q", l, c.path)
		}
		count += checkNode(t, c, false)
	}
	for key, c := range n.next {
		visit(key, c)
	}
	if n.star != nil {
		visit("*", n.star)
	}
	return count
}

// FuzzTrieMatch builds a trie from ops, patterns separated by spaces, one
// with a leading '-' removed again, and checks its matches for topic.
func FuzzTrieMatch(f *testing.F) {
	f.Add("a.b.c a.*.c a.b.>", "a.b.c")
	f.Add("a.b.c.d a.b.x -a.b.c.d", "a.b.x")
	f.Add("> *.> * a.*", "a")
	f.Fuzz(func(t *testing.T, ops, topic string) {
		if !ValidTopic(topic) {
			return
		}
		ts := newTrieSet()
		for _, op := range strings.Fields(ops) {
			p, drop := strings.CutPrefix(op, "-")
			switch {
			case !ValidPattern(p):
			case drop:
				ts.remove(p)
			default:
				ts.add(p)
			}
		}
		ts.check(t, topic)
		for p := range ts.live {
			ts.remove(p)
		}
		if !ts.root.empty() {
			t.Fatal("the trie is not empty once every pattern is removed")
		}
	})
}

// TestTrieAgainstMatchDeep adds and removes random deep patterns that
// share long prefixes, so that edges split and merge, and checks every
// match against Match and the trie's shape after each change.
func TestTrieAgainstMatchDeep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	toks := []string{"a", "b", "*"}
	random := func(depth int) string {
		s := make([]string, 1+rng.IntN(depth))
		for i := range s {
			s[i] = toks[rng.IntN(len(toks))]
		}
		if rng.IntN(4) == 0 {
			s = append(s, ">")
		}
		return strings.Join(s, ".")
	}
	ts := newTrieSet()
	var live []string
	matching := 0 // checks that compared a match, not two empty lists
	for range 1500 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			ts.remove(live[i])
			live = slices.Delete(live, i, i+1)
		} else if p := random(10); ts.live[p] == nil {
			ts.add(p)
			live = append(live, p)
		}
		topic := strings.ReplaceAll(strings.TrimSuffix(random(12), ".>"), "*", "c")
		if ts.check(t, topic) > 0 {
			matching++
		}
	}
	if matching < 1000 {
		t.Fatalf("only %d of 1500 checks had a match to compare", matching)
	}
}

// deepPatterns returns n distinct patterns of 255 bytes (128 one-letter
// tokens, some '*'), parting from each other in their first tokens: the
// shape that cost the trie a node and a map per token.
func deepPatterns(n int) []string {
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for j := range 128 {
			if j > 0 {
				b.WriteByte('.')
			}
			switch {
			case j < 3:
				b.WriteByte(byte('a' + (i/pow26[j])%26))
			case j%7 == 0:
				b.WriteByte('*')
			default:
				b.WriteByte(byte('a' + j%26))
			}
		}
		out[i] = b.String()
	}
	return out
}

var pow26 = [3]int{1, 26, 26 * 26}

// deepPatternCost is the heap one subscription to a deep pattern costs
// the node: its pattern's text, the subscription, the session's slot for
// it and its part of the index, averaged over n distinct patterns of one
// connection.
func deepPatternCost(tb testing.TB, n int) float64 {
	b, _ := newTestBroker(tb, Config{MaxSubscriptions: n})
	s := b.Connect(&countConn{}, ClientInfo{})
	before := liveHeap()
	for _, p := range deepPatterns(n) {
		addSub(b, s, p, Position{}, true)
	}
	cost := float64(liveHeap()-before) / float64(n)
	runtime.KeepAlive(s)
	return cost
}

// TestDeepPatternsCostBoundedMemory: 1,000 deep patterns cost a few
// hundred bytes each, not the 36 KiB a trie node per token took.
func TestDeepPatternsCostBoundedMemory(t *testing.T) {
	if got := deepPatternCost(t, 1000); got > 4096 {
		t.Errorf("a deep pattern costs %.0f bytes, want at most 4 KiB", got)
	} else {
		t.Logf("%.0f bytes per deep pattern", got)
	}
}

// BenchmarkDeepPatternMemory reports the heap bytes per subscription to a
// distinct 255-byte pattern (docs/protocol.md section 6: about 1 KiB at most).
func BenchmarkDeepPatternMemory(b *testing.B) {
	var perSub float64
	for b.Loop() {
		perSub = deepPatternCost(b, 1000)
	}
	b.ReportMetric(perSub, "B/sub")
}

// BenchmarkDeepPatternMatch: a topic matching one of 1,000 deep patterns.
func BenchmarkDeepPatternMatch(b *testing.B) {
	ts := newTrieSet()
	patterns := deepPatterns(1000)
	for _, p := range patterns {
		ts.add(p)
	}
	topic := strings.ReplaceAll(patterns[500], "*", "x")
	b.ReportAllocs()
	dst := make([]*entry, 0, 8)
	for b.Loop() {
		if dst = ts.root.match(topic, dst[:0]); len(dst) != 1 {
			b.Fatal(fmt.Sprint(len(dst), " matches"))
		}
	}
}
