package broker

import (
	"strings"
	"testing"
)

func TestValidTopic(t *testing.T) {
	tests := []struct {
		s          string
		topic, pat bool
	}{
		{"news", true, true},
		{"chat.room-7", true, true},
		{"user:42.inbox", true, true},
		{"A_z-0:@=+", true, true},
		{strings.Repeat("a", 255), true, true},
		{strings.Repeat("a", 256), false, false},
		{strings.Repeat("a.", 127) + "a", true, true},
		{"", false, false},
		{".", false, false},
		{"a.", false, false},
		{".a", false, false},
		{"a..b", false, false},
		{"a b", false, false},
		{"a/b", false, false},
		{"é", false, false},
		{"*", false, true},
		{">", false, true},
		{"chat.*", false, true},
		{"*.x", false, true},
		{"chat.>", false, true},
		{"chat.*.>", false, true},
		{"chat.>.x", false, false},
		{">.x", false, false},
		{"chat.a*", false, false},
		{"chat.>>", false, false},
		{"chat.**", false, false},
		{"chat.*x", false, false},
	}
	for _, tt := range tests {
		if got := ValidTopic(tt.s); got != tt.topic {
			t.Errorf("ValidTopic(%q) = %v", tt.s, got)
		}
		if got := ValidPattern(tt.s); got != tt.pat {
			t.Errorf("ValidPattern(%q) = %v", tt.s, got)
		}
		if tt.pat && IsPattern(tt.s) == tt.topic {
			t.Errorf("IsPattern(%q) = %v", tt.s, IsPattern(tt.s))
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"chat.*", "chat.a", true},
		{"chat.*", "chat", false},
		{"chat.*", "chat.a.b", false},
		{"chat.>", "chat.a", true},
		{"chat.>", "chat.a.b", true},
		{"chat.>", "chat", false},
		{">", "anything.at.all", true},
		{">", "x", true},
		{"*", "x", true},
		{"*", "x.y", false},
		{"*.b.*", "a.b.c", true},
		{"*.b.*", "a.c.c", false},
		{"a.b", "a.b", true},
		{"a.b", "a.bc", false},
		{"a.b", "a", false},
		{"a", "a.b", false},
		{"*.>", "a", false},
		{"*.>", "a.b", true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.pattern, tt.topic, got)
		}
		if got := naiveMatch(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("naiveMatch(%q, %q) = %v", tt.pattern, tt.topic, got)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		allowed, pattern string
		want             bool
	}{
		{"chat.>", "chat.a", true},
		{"chat.>", "chat.*", true},
		{"chat.>", "chat.*.>", true},
		{"chat.>", "chat.>", true},
		{">", "chat.>", true},
		{">", ">", true},
		{">", "*", true},
		{"chat.>", ">", false},
		{"chat.>", "chat", false},
		{"chat.*", "*.x", false},
		{"chat.*", "chat.a", true},
		{"chat.*", "chat.*", true},
		{"chat.*", "chat.>", false},
		{"chat.*", "chat.a.b", false},
		{"chat.a", "chat.*", false},
		{"chat.a", "chat.a", true},
		{"*.x", "chat.x", true},
		{"*", "*", true},
		{"*", ">", false},
		{"user:42.>", "user:42.inbox", true},
		{"user:42.>", "user:43.inbox", false},
		{"chat.>", "chat..a", false},
		{"bad..", "chat", false},
	}
	for _, tt := range tests {
		if got := Covers(tt.allowed, tt.pattern); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v", tt.allowed, tt.pattern, got)
		}
	}
}

// naiveMatch is the reference Match is checked against: split both and
// compare token by token.
func naiveMatch(pattern, topic string) bool {
	p, tt := strings.Split(pattern, "."), strings.Split(topic, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || (tok != "*" && tok != tt[i]) {
			return false
		}
	}
	return len(p) == len(tt)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"chat.*", "chat.a"}, {"chat.>", "chat.a.b"}, {">", "x"}, {"a.*.c", "a.b.c"}, {"*.>", "a"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if !ValidPattern(pattern) || !ValidTopic(topic) {
			return
		}
		if got, want := Match(pattern, topic), naiveMatch(pattern, topic); got != want {
			t.Errorf("Match(%q, %q) = %v, reference %v", pattern, topic, got, want)
		}
		if !Match(topic, topic) || !Covers(pattern, pattern) {
			t.Errorf("not reflexive: %q %q", pattern, topic)
		}
		if Match(pattern, topic) != Covers(pattern, topic) {
			t.Errorf("Covers(%q, %q) disagrees with Match for a topic", pattern, topic)
		}
	})
}

// FuzzCovers checks containment against matching: if allowed covers
// pattern, every topic pattern matches is matched by allowed.
func FuzzCovers(f *testing.F) {
	f.Add("chat.>", "chat.*", "chat.a")
	f.Add("chat.*", "*.x", "chat.x")
	f.Add(">", "a.>", "a.b.c")
	f.Fuzz(func(t *testing.T, allowed, pattern, topic string) {
		if !ValidTopic(topic) || !Covers(allowed, pattern) {
			return
		}
		if Match(pattern, topic) && !Match(allowed, topic) {
			t.Errorf("Covers(%q, %q) but %q matches only the second", allowed, pattern, topic)
		}
	})
}
