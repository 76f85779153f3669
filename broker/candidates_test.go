package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// forEachCaching runs body with the pattern picks kept per topic and with
// every fan-out walking the trie, which must deliver the same.
func forEachCaching(t *testing.T, body func(t *testing.T, b *Broker)) {
	for _, uncached := range []bool{false, true} {
		t.Run(fmt.Sprintf("uncached=%v", uncached), func(t *testing.T) {
			b, _ := newTestBroker(t, Config{MaxSubscriptions: 100})
			b.idx.patterns.uncached = uncached
			body(t, b)
		})
	}
}

// TestPicksFollowSubscriptionChanges subscribes and unsubscribes random
// overlapping topics and patterns on a few connections between publishes,
// and checks that every connection gets each message once exactly when
// one of its subscriptions matches, through its exact topic when it has
// it, else tagged with one of its matching patterns.
func TestPicksFollowSubscriptionChanges(t *testing.T) {
	forEachCaching(t, func(t *testing.T, b *Broker) {
		rng := rand.New(rand.NewPCG(5, 6))
		names := []string{"a.b", "a.c", "a.*", "*.b", "a.>", ">", "*.*", "b.>"}
		topics := []string{"a.b", "a.c", "b.b"}
		conns := make([]*fakeConn, 4)
		sessions := make([]*Session, len(conns))
		for i := range conns {
			conns[i] = newFakeConn(t)
			sessions[i] = b.Connect(conns[i], ClientInfo{})
		}
		kept := 0
		for seq := uint64(1); seq <= 300; seq++ {
			toggle(b, sessions[rng.IntN(len(sessions))], names[rng.IntN(len(names))])
			topic := topics[rng.IntN(len(topics))]
			want := make([]string, len(sessions))
			for i, s := range sessions {
				want[i] = expectedTag(s, topic)
				conns[i].msgs = conns[i].msgs[:0]
			}
			b.HandleMessage(&Message{Topic: topic, Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
			for i, c := range conns {
				checkOnce(t, c, sessions[i], topic, want[i])
			}
			if b.idx.shard(topic).cache.get(topic, b.idx.patterns.gen) != nil {
				kept++
			}
		}
		if !b.idx.patterns.uncached && kept == 0 {
			t.Error("no pick was ever kept: the cached path went untested")
		}
		t.Logf("%d of 300 fan-outs left their pick kept", kept)
	})
}

// toggle subscribes s to name, live from now, or unsubscribes it.
func toggle(b *Broker, s *Session, name string) {
	s.mu.Lock()
	sub := s.takeLocked(name)
	s.mu.Unlock()
	if sub != nil {
		b.unindex(sub)
		return
	}
	addSub(b, s, name, Position{Epoch: "e"}, true)
}

// expectedTag is how a message of topic reaches s: "" through its exact
// topic, "*" through one of its patterns, "-" not at all.
func expectedTag(s *Session, topic string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tag := "-"
	for sub := s.subs; sub != nil; sub = sub.next {
		switch {
		case sub.pattern == topic:
			return ""
		case Match(sub.pattern, topic):
			tag = "*"
		}
	}
	return tag
}

func checkOnce(t *testing.T, c *fakeConn, s *Session, topic, want string) {
	t.Helper()
	var got []map[string]any
	for _, m := range c.msgs {
		if m["type"] == "message" {
			got = append(got, m)
		}
	}
	if want == "-" {
		if len(got) != 0 {
			t.Fatalf("%s: got %v, want nothing", topic, got)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("%s: got %d messages, want 1: %v", topic, len(got), got)
	}
	tag, tagged := got[0]["pattern"].(string)
	switch {
	case want == "" && tagged:
		t.Fatalf("%s came through %s though the topic is subscribed", topic, tag)
	case want == "*" && (!tagged || !Match(tag, topic) || !hasSub(s, tag)):
		t.Fatalf("%s came tagged %v, not one of the connection's matching patterns", topic, got[0]["pattern"])
	}
}

func hasSub(s *Session, pattern string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findLocked(pattern) != nil
}

// TestCandidateCacheStaysBounded: picks for more topics and subscriptions
// than a shard keeps evict older generations first, then others.
func TestCandidateCacheStaysBounded(t *testing.T) {
	var c candidateCache
	subs := make([]*subscription, cachedSubsPerShard/4)
	for i := range subs {
		subs[i] = &subscription{}
	}
	c.put("old", 1, subs[:1])
	for i := range 3 * cachedTopicsPerShard {
		c.put(fmt.Sprint(i), 2, subs[:1+(i*97)%len(subs)])
		if len(c.topics) > cachedTopicsPerShard || c.subs > cachedSubsPerShard {
			t.Fatalf("%d topics, %d subscriptions kept", len(c.topics), c.subs)
		}
		if i == 0 && c.get("old", 1) == nil {
			t.Fatal("a pick was evicted with room to spare")
		}
	}
	if c.get("old", 1) != nil {
		t.Error("a pick of an old generation outlived newer ones")
	}
	last := fmt.Sprint(3*cachedTopicsPerShard - 1)
	if got := c.get(last, 2); len(got) == 0 || c.get(last, 3) != nil {
		t.Errorf("pick %q: %d subscriptions, and found in a later generation", last, len(got))
	}
	c.put("huge", 2, make([]*subscription, cachedSubsPerShard/4+1))
	if c.get("huge", 2) != nil {
		t.Error("a pick too large to be worth keeping was kept")
	}
	if total := sumSubs(&c); total != c.subs {
		t.Errorf("counted %d subscriptions, holds %d", c.subs, total)
	}
}

func sumSubs(c *candidateCache) int {
	n := 0
	for _, k := range c.topics {
		n += len(k.subs)
	}
	return n
}

// TestPicksAreKeptOnlyWhenTheySave: a topic whose patterns share no
// connection is not kept; one whose connection holds many is.
func TestPicksAreKeptOnlyWhenTheySave(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 100})
	for range 3 {
		s := b.Connect(&countConn{}, ClientInfo{})
		addSub(b, s, "x.*", Position{}, true)
	}
	s := b.Connect(&countConn{}, ClientInfo{})
	addSub(b, s, "x.>", Position{}, true)
	b.HandleMessage(msg("x.y", 1))
	if got := b.idx.shard("x.y").cache.get("x.y", b.idx.patterns.gen); got != nil {
		t.Errorf("kept a pick that saves nothing: %d", len(got))
	}
	for _, p := range overlappingPatterns(MaxMatchingPatterns) {
		addSub(b, s, p, Position{}, true)
	}
	b.HandleMessage(msg(overlapTopic, 1))
	got := b.idx.shard(overlapTopic).cache.get(overlapTopic, b.idx.patterns.gen)
	if len(got) != 1 || got[0].session != s {
		t.Errorf("kept %d picks for one connection's %d patterns", len(got), MaxMatchingPatterns)
	}
}
