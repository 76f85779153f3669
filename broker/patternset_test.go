package broker

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPatternSetMatchesAsMatch(t *testing.T) {
	patterns := []string{"chat.*", "chat.>", "a.*.c", ">", "user:42.>", "x.*.*.y"}
	topics := []string{"chat", "chat.a", "chat.a.b", "a.b.c", "a.b", "user:42.inbox", "x.1.2.y", "x.1.y"}
	for _, p := range patterns {
		var s PatternSet
		s.Add(p)
		for _, topic := range topics {
			if got, want := s.Matches(topic), Match(p, topic); got != want {
				t.Errorf("{%s}.Matches(%q) = %v, Match says %v", p, topic, got, want)
			}
		}
	}
	var s PatternSet
	for _, p := range patterns {
		s.Add(p)
	}
	for _, topic := range topics {
		var want []string
		for _, p := range patterns {
			if Match(p, topic) {
				want = append(want, p)
			}
		}
		got := s.Matching(topic)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Matching(%q) = %q, Match says %q", topic, got, want)
		}
	}
	s.Add("chat.*") // again: no effect
	if s.Len() != len(patterns) {
		t.Fatalf("Len %d, want %d", s.Len(), len(patterns))
	}
	for _, p := range patterns {
		s.Remove(p)
	}
	s.Remove("never.*")
	if s.Len() != 0 || s.Matches("chat.a") {
		t.Fatalf("emptied set: Len %d, matches chat.a %v", s.Len(), s.Matches("chat.a"))
	}
}

// A thousand deep patterns cost the set what they cost the broker's index:
// under a kilobyte or so each, not a trie node per token.
func TestPatternSetDeepPatternsStaySmall(t *testing.T) {
	deep := func(i int) string {
		p := "d" + strconv.Itoa(i) + ".*"
		for len(p)+2 <= 255 {
			p += ".a"
		}
		return p
	}
	before := liveHeap()
	var s PatternSet
	for i := range 1000 {
		s.Add(deep(i))
	}
	per := (int64(liveHeap()) - int64(before)) / 1000
	t.Logf("%d bytes per deep pattern", per)
	if per > 2048 {
		t.Fatalf("%d bytes per deep pattern, want at most 2 KiB", per)
	}
	topic := strings.Replace(deep(7), "*", "b", 1)
	if s.Len() != 1000 || !s.Matches(topic) || s.Matches(topic+".a") {
		t.Fatalf("Len %d; matches %q: %v", s.Len(), topic, s.Matches(topic))
	}
}
