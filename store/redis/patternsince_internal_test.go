package redis

import (
	"strconv"
	"testing"
	"time"
)

// patternSince answers the earliest subscribe among the patterns that
// cover the topic, and no other.
func TestPatternSinceTakesTheEarliestCoveringPattern(t *testing.T) {
	s := newSubscriptions()
	s.add("chat.>")
	time.Sleep(2 * time.Millisecond)
	s.add("chat.*")
	s.add("news.*")
	early := s.patterns["chat.>"]
	if got, ok := s.patternSince("chat.a"); !ok || !got.Equal(early) {
		t.Fatalf("patternSince(chat.a) = %v, %v; want chat.>'s %v", got, ok, early)
	}
	s.remove("chat.>")
	if got, ok := s.patternSince("chat.a"); !ok || !got.Equal(s.patterns["chat.*"]) {
		t.Fatalf("after chat.> left: %v, %v; want chat.*'s %v", got, ok, s.patterns["chat.*"])
	}
	if got, ok := s.patternSince("chat.a.b"); ok {
		t.Fatalf("patternSince(chat.a.b) = %v, true; no pattern covers it now", got)
	}
	if _, ok := s.patternSince("sport.a"); ok {
		t.Fatal("patternSince(sport.a) found a pattern")
	}
}

// BenchmarkPatternSince is one exact subscribe's look for the patterns
// covering its topic on a node holding 10,000 patterns, two of them
// covering it.
func BenchmarkPatternSince(b *testing.B) {
	s := newSubscriptions()
	for i := range 10_000 {
		s.add("room" + strconv.Itoa(i) + ".*")
	}
	s.add("room7.>")
	b.ResetTimer()
	for range b.N {
		if _, ok := s.patternSince("room7.a"); !ok {
			b.Fatal("no pattern found")
		}
	}
}
