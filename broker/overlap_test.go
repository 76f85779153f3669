package broker

import (
	"fmt"
	"slices"
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
	published := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := b.Publish(t.Context(), "room.a", []byte(fmt.Sprint(i)), ""); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	c.do(t, "x", `{"type":"subscribe","id":"x","topic":"room.a"}`)
	if err := <-published; err != nil {
		t.Fatalf("round %d: publish: %v", round, err)
	}
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	c.mu.Lock()
	defer c.mu.Unlock()
	got := seqs(t, c.ofTypeLocked(c.msgs, "message"))
	want := make([]uint64, total)
	for i := range want {
		want[i] = uint64(i) + 1
	}
	if !slices.Equal(got, want) {
		t.Fatalf("round %d: got seqs %v, want 1..%d once each in order; %v", round, got, total, overlapSummary(c.msgs))
	}
}

// overlapSummary shortens what a connection got: p<seq> through the
// pattern, <seq> through the topic, S<seq> the subscribed reply.
func overlapSummary(msgs []map[string]any) []string {
	var out []string
	for _, m := range msgs {
		switch {
		case m["type"] == "message" && m["pattern"] != nil:
			out = append(out, fmt.Sprint("p", m["seq"]))
		case m["type"] == "message":
			out = append(out, fmt.Sprint(m["seq"]))
		case m["type"] == "subscribed":
			out = append(out, fmt.Sprint("S", m["seq"]))
		}
	}
	return out
}
