package broker

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestExactSubscribeUnderLivePatternRacingPublishes: a connection that has
// "room.*" adds "room.a" while room.a is being published. Every message
// reaches it once: through the pattern before the switch, untagged after.
func TestExactSubscribeUnderLivePatternRacingPublishes(t *testing.T) {
	for round := range 40 {
		overlapRound(t, round)
	}
}

func overlapRound(t *testing.T, round int) {
	const total = 80
	b, _ := newTestBroker(t, Config{RateLimit: -1})
	c := connect(t, b, ClientInfo{})
	c.do(t, "p", `{"type":"subscribe","id":"p","topic":"room.*"}`)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishN(t, b, "room.a", total)
	}()
	c.do(t, "x", `{"type":"subscribe","id":"x","topic":"room.a"}`)
	wg.Wait()
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	var summary []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		switch {
		case m["type"] == "message" && m["pattern"] != nil:
			summary = append(summary, fmt.Sprint("p", m["seq"]))
		case m["type"] == "message":
			summary = append(summary, fmt.Sprint(m["seq"]))
		case m["type"] == "subscribed":
			summary = append(summary, fmt.Sprint("S", m["seq"]))
		}
	}
	got := seqs(t, c.ofTypeLocked(c.msgs, "message"))
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	for i, s := range sorted {
		if s != uint64(i)+1 || len(sorted) != total {
			t.Fatalf("round %d: %v", round, summary)
		}
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("round %d: out of order: %v", round, summary)
	}
}
