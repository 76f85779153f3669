package broker

import (
	"slices"
	"testing"
	"time"
)

func TestBusiestTopics(t *testing.T) {
	b, _ := newTestBroker(t, Config{NodeID: "n1", MaxSubscriptions: 100})
	conns := []*client{connect(t, b, ClientInfo{}), connect(t, b, ClientInfo{}), connect(t, b, ClientInfo{})}
	// t.0 has 3 subscribers, t.1 2, t.* 2, t.2..t.9 1 each.
	for i, c := range conns {
		c.do(t, "a", `{"type":"subscribe","id":"a","topic":"t.%d"}`, i)
		c.do(t, "z", `{"type":"subscribe","id":"z","topic":"t.0"}`)
		if i > 0 {
			c.do(t, "p", `{"type":"subscribe","id":"p","topic":"t.*"}`)
			c.do(t, "b", `{"type":"subscribe","id":"b","topic":"t.1"}`)
		}
	}
	for i := 3; i < 10; i++ {
		conns[0].do(t, "x", `{"type":"subscribe","id":"x","topic":"t.%d"}`, i)
	}
	// A subscribe is answered as its worker indexes it: wait for all.
	for deadline := time.Now().Add(5 * time.Second); b.countTopics() != 11; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d topics indexed, want 11", b.countTopics())
		}
	}
	top, total := b.BusiestTopics(4)
	want := []TopicCount{{"t.0", 3}, {"t.*", 2}, {"t.1", 2}, {"t.2", 1}}
	if !slices.Equal(top, want) || total != 11 {
		t.Errorf("busiest 4: %v of %d, want %v of 11", top, total, want)
	}
	if all, total := b.BusiestTopics(100); len(all) != 11 || total != 11 {
		t.Errorf("busiest 100: %v of %d, want all 11", all, total)
	}
}
