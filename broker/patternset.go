package broker

// PatternSet is a set of wildcard patterns that answers whether any of
// them matches a topic, for an engine that filters what it receives. It is
// the broker's own radix trie, so a pattern costs a bounded amount of
// memory however deep it is, and a match visits only the trie nodes along
// the topic (docs/protocol.md section 6). The zero value is empty; it is
// not safe for concurrent use.
type PatternSet struct {
	root    node
	entries map[string]*entry
}

// Add puts a valid wildcard pattern in the set; adding it again does
// nothing.
func (s *PatternSet) Add(pattern string) {
	if s.entries == nil {
		s.entries = make(map[string]*entry)
	}
	if s.entries[pattern] != nil {
		return
	}
	e := &entry{pattern: pattern}
	s.entries[pattern] = e
	s.root.insert(pattern, e)
}

// Remove takes pattern out of the set; a pattern not in it is ignored.
func (s *PatternSet) Remove(pattern string) {
	if s.entries[pattern] == nil {
		return
	}
	delete(s.entries, pattern)
	s.root.remove(pattern)
}

// Len is how many patterns the set holds.
func (s *PatternSet) Len() int { return len(s.entries) }

// Matches reports whether a pattern of the set matches the valid topic.
func (s *PatternSet) Matches(topic string) bool {
	if len(s.entries) == 0 {
		return false
	}
	var buf [8]*entry // enough for the common case without allocating
	return len(s.root.match(topic, buf[:0])) > 0
}

// MatchesWalked is Matches that also says how many trie nodes the match
// went through: an engine whose set is the node's patterns hands a topic
// whose match went through more than MaxWalkedNodes to its Handler's
// CheckMatch, even when none matched (walked.go).
func (s *PatternSet) MatchesWalked(topic string) (matched bool, walked int) {
	if len(s.entries) == 0 {
		return false, 0
	}
	var buf [8]*entry
	var w walkLog
	matched = len(s.root.walk(topic, buf[:0], &w)) > 0
	return matched, w.count
}

// Matching returns the patterns of the set that match the valid topic,
// found as Matches finds one, along the topic's trie nodes only.
func (s *PatternSet) Matching(topic string) []string {
	if len(s.entries) == 0 {
		return nil
	}
	var buf [8]*entry
	matched := s.root.match(topic, buf[:0])
	out := make([]string, len(matched))
	for i, e := range matched {
		out[i] = e.pattern
	}
	return out
}
