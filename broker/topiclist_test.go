package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// topicsOf is b's listing whole, sorted by name.
func topicsOf(t testing.TB, b *Broker) []TopicCount {
	t.Helper()
	var all []TopicCount
	if err := b.ListTopics(func(chunk []TopicCount) error {
		all = append(all, chunk...)
		return nil
	}); err != nil {
		t.Fatalf("listing: %v", err)
	}
	slices.SortFunc(all, func(a, b TopicCount) int { return strings.Compare(a.Topic, b.Topic) })
	return all
}

// TestListTopicsInChunks: an index with more topics than its shards'
// chunks and more patterns than one chunk is listed whole, each topic or
// pattern once with its count, in chunks of about topicsChunk, and no lock
// of the index is held while a chunk is handed over; an error from the
// callee ends the listing.
func TestListTopicsInChunks(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	want := map[string]int{}
	subscribe := func(p string) { // the index alone: no session holds it
		b.index(&subscription{pattern: p, exact: !IsPattern(p)})
		want[p]++
	}
	// Some 1,100 topics a shard: most shards are listed in two parts.
	const exact, patterns = 70 * topicsChunk, 3*topicsChunk + 100
	for i := range exact {
		p := fmt.Sprintf("topic.%d", i)
		subscribe(p)
		if i%7 == 0 {
			subscribe(p)
		}
	}
	for i := range patterns {
		subscribe(fmt.Sprintf("room.%d.*", i))
	}

	got := map[string]int{}
	chunks := 0
	err := b.ListTopics(func(chunk []TopicCount) error {
		chunks++
		if len(chunk) > 2*topicsChunk {
			t.Fatalf("a chunk of %d, want about %d at most", len(chunk), topicsChunk)
		}
		for _, tc := range chunk {
			if _, twice := got[tc.Topic]; twice {
				t.Fatalf("%s listed twice", tc.Topic)
			}
			got[tc.Topic] = tc.Subscribers
		}
		wantUnlocked(t, b.idx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d listed, want %d", len(got), len(want))
	}
	for p, n := range want {
		if got[p] != n {
			t.Fatalf("%s listed with %d subscribers, want %d", p, got[p], n)
		}
	}
	if least := (exact + patterns) / (2 * topicsChunk); chunks < least {
		t.Errorf("%d chunks, want %d at least", chunks, least)
	}

	stop := errors.New("gone")
	calls := 0
	if err := b.ListTopics(func([]TopicCount) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("a failing callee was called %d times and the listing returned %v", calls, err)
	}
}

// TestListTopicsWalksAMapSixteenTimesAtMost: the pattern map, which is
// not sharded, is listed in maxListParts parts at most, each a walk of the
// whole map, however many patterns it holds: in parts of topicsChunk a
// listing of n patterns cost n²/topicsChunk hashes. Every pattern is
// listed, once.
func TestListTopicsWalksAMapSixteenTimesAtMost(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	const patterns = 40 * topicsChunk
	for i := range patterns {
		b.index(&subscription{pattern: fmt.Sprintf("user.%d.*", i)})
	}
	listed := map[string]bool{}
	chunks := 0
	if err := b.ListTopics(func(chunk []TopicCount) error {
		chunks++
		for _, tc := range chunk {
			if listed[tc.Topic] {
				t.Fatalf("%s listed twice", tc.Topic)
			}
			listed[tc.Topic] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != patterns {
		t.Fatalf("%d patterns listed, want %d", len(listed), patterns)
	}
	if chunks > maxListParts {
		t.Errorf("%d patterns listed in %d parts, each a walk of them all; want %d at most", patterns, chunks, maxListParts)
	}
}

// wantUnlocked fails unless every lock of ix is free.
func wantUnlocked(t *testing.T, ix *index) {
	t.Helper()
	for i := range ix.shards {
		if !ix.shards[i].mu.TryLock() {
			t.Fatalf("shard %d is locked during the callee", i)
		}
		ix.shards[i].mu.Unlock()
	}
	if !ix.patterns.mu.TryLock() {
		t.Fatal("the pattern trie is locked during the callee")
	}
	ix.patterns.mu.Unlock()
}
