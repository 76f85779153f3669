package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func newSub(pattern string) *subscription {
	return &subscription{pattern: pattern, exact: !IsPattern(pattern)}
}

func matchedPatterns(ix *index, topic string) []string {
	var out []string
	for _, e := range ix.match(topic, nil) {
		out = append(out, e.pattern)
	}
	slices.Sort(out)
	return out
}

func TestIndexMatch(t *testing.T) {
	ix := newIndex()
	patterns := []string{"chat.a", "chat.*", "chat.>", ">", "*.a", "*.*.c", "chat.*.c", "news", "a.b.>"}
	for _, p := range patterns {
		ix.add(newSub(p))
	}
	tests := []struct {
		topic string
		want  []string
	}{
		{"chat.a", []string{"*.a", ">", "chat.*", "chat.>", "chat.a"}},
		{"chat.b", []string{">", "chat.*", "chat.>"}},
		{"chat.b.c", []string{"*.*.c", ">", "chat.*.c", "chat.>"}},
		{"chat", []string{">"}},
		{"news", []string{">", "news"}},
		{"a.b", []string{">"}},
		{"a.b.c", []string{"*.*.c", ">", "a.b.>"}},
	}
	for _, tt := range tests {
		if got := matchedPatterns(ix, tt.topic); !slices.Equal(got, tt.want) {
			t.Errorf("match(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
}

func TestIndexAddRemove(t *testing.T) {
	ix := newIndex()
	a, b := newSub("x.*"), newSub("x.*")
	if !ix.add(a) || ix.add(b) {
		t.Fatal("add should create the pattern once")
	}
	if removed, emptied := ix.remove(a); !removed || emptied {
		t.Errorf("remove a: %v %v", removed, emptied)
	}
	if removed, _ := ix.remove(a); removed {
		t.Error("removed twice")
	}
	if got := matchedPatterns(ix, "x.y"); len(got) != 1 {
		t.Errorf("match after removing one of two: %v", got)
	}
	if _, emptied := ix.remove(b); !emptied {
		t.Error("last remove did not empty the pattern")
	}
	if !ix.patterns.root.empty() || len(ix.patterns.entries) != 0 {
		t.Error("trie not pruned")
	}
	e := newSub("e")
	ix.add(e)
	if _, emptied := ix.remove(e); !emptied || len(ix.shard("e").topics) != 0 {
		t.Error("exact topic not removed")
	}
}

// TestIndexAgainstReference adds and removes random patterns and checks
// every match against Match over all live subscriptions.
func TestIndexAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	toks := []string{"a", "b", "c", "*"}
	randPattern := func() string {
		n := 1 + rng.IntN(3)
		s := ""
		for i := range n {
			if i > 0 {
				s += "."
			}
			s += toks[rng.IntN(len(toks))]
		}
		if rng.IntN(4) == 0 {
			s += ".>"
		}
		return s
	}
	ix := newIndex()
	var live []*subscription
	for range 2000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			ix.remove(live[i])
			live = slices.Delete(live, i, i+1)
		} else {
			s := newSub(randPattern())
			ix.add(s)
			live = append(live, s)
		}
		topic := randPattern()
		if !ValidTopic(topic) {
			continue
		}
		want := map[string]bool{}
		for _, s := range live {
			if Match(s.pattern, topic) {
				want[s.pattern] = true
			}
		}
		got := map[string]int{}
		for _, e := range ix.match(topic, nil) {
			got[e.pattern] += len(e.subs)
		}
		if len(got) != len(want) {
			t.Fatalf("match(%q) = %v, want %v", topic, got, want)
		}
		for p := range want {
			if got[p] == 0 {
				t.Fatalf("match(%q) misses %q", topic, p)
			}
		}
	}
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ix := newIndex()
		for i := range n {
			p := fmt.Sprintf("room.%d.events", i)
			switch i % 10 {
			case 0:
				p = fmt.Sprintf("room.%d.*", i)
			case 1:
				p = fmt.Sprintf("room.%d.>", i)
			}
			ix.add(newSub(p))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]*entry, 0, 8)
			i := 0
			for b.Loop() {
				topic := topicsForBench[i%len(topicsForBench)]
				dst = ix.match(topic, dst[:0])
				i++
			}
		})
	}
}

var topicsForBench = []string{"room.42.events", "room.10.events", "room.11.x.y", "room.99999.events", "other.topic"}
