package broker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// eventConn keeps the events it is sent, each whole, and counts those
// that came in two parts.
type eventConn struct {
	mu     sync.Mutex
	events []string
	pairs  int
}

func (c *eventConn) Send(f []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, string(f))
	return true
}

func (c *eventConn) SendPair(shared, own []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, string(shared)+string(own))
	c.pairs++
	return true
}

func (c *eventConn) SendPairDeferred(shared, own []byte, _ *Batch) bool {
	return c.SendPair(shared, own)
}

func (c *eventConn) Close(int, string) {}

var _ EventConn = (*eventConn)(nil)

// openStream opens and starts a stream of topics on a fresh conn.
func openStream(tb testing.TB, b *Broker, topics ...string) *eventConn {
	tb.Helper()
	c := &eventConn{}
	startStream(tb, b, c, topics...)
	return c
}

func startStream(tb testing.TB, b *Broker, c Conn, topics ...string) {
	tb.Helper()
	o, err := b.OpenStream(context.Background(), ClientInfo{}, topics, "")
	if err != nil {
		tb.Fatal(err)
	}
	o.Start(c)
}

// countingEventConn counts what it is sent and keeps nothing.
type countingEventConn struct{ whole, pairs atomic.Int64 }

func (c *countingEventConn) Send([]byte) bool { c.whole.Add(1); return true }
func (c *countingEventConn) SendPair(_, _ []byte) bool {
	c.pairs.Add(1)
	return true
}
func (c *countingEventConn) SendPairDeferred(a, b []byte, _ *Batch) bool {
	return c.SendPair(a, b)
}
func (c *countingEventConn) Close(int, string) {}

// idOf is the id line of an event.
func idOf(tb testing.TB, ev string) string {
	tb.Helper()
	for _, line := range strings.Split(ev, "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			return id
		}
	}
	tb.Fatalf("event without id: %q", ev)
	return ""
}

// TestStreamIDsFollowDeliveries: each event's id holds the stream's
// position in every exact topic after that event, and events of other
// topics (a pattern's) are told apart by the count.
func TestStreamIDsFollowDeliveries(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := openStream(t, b, "a", "b", "p.*")
	msg := func(topic string, seq uint64) {
		b.HandleMessage(&Message{Topic: topic, Epoch: "e", Seq: seq, ID: "x", Data: []byte("1")})
	}
	msg("a", 1)
	msg("p.x", 1)
	msg("b", 1)
	msg("a", 2)
	if len(c.events) != 5 || !strings.HasPrefix(c.events[0], "event: subscribed\n") {
		t.Fatalf("events %q", c.events)
	}
	want := []struct{ a, b, count uint64 }{{0, 0, 0}, {1, 0, 0}, {1, 0, 1}, {1, 1, 1}, {2, 1, 1}}
	seen := map[string]bool{}
	for i, ev := range c.events {
		id := idOf(t, ev)
		if seen[id] {
			t.Fatalf("event %d repeats id %q", i, id)
		}
		seen[id] = true
		entries, count, ok := parseStreamID(id)
		if !ok || len(entries) != 2 || entries[0].seq != want[i].a || entries[1].seq != want[i].b || count != want[i].count {
			t.Fatalf("event %d id %q: %+v count %d, want %+v", i, id, entries, count, want[i])
		}
		if entries[0].topic != idHash("a") || i > 0 && entries[0].epoch != idHash("e") {
			t.Fatalf("event %d: entry %+v is not a's in epoch e", i, entries[0])
		}
	}
	if c.pairs != 4 {
		t.Errorf("%d events in two parts, want the 4 messages", c.pairs)
	}
}

// TestStreamFanoutAllocsDoNotGrowWithStreams: streams of one topic share
// the whole event, id included, as WebSockets share a frame.
func TestStreamFanoutAllocsDoNotGrowWithStreams(t *testing.T) {
	var allocs [2]float64
	for i, n := range []int{100, 2000} {
		b, _ := newTestBroker(t, Config{})
		c := &countingEventConn{}
		for range n {
			startStream(t, b, c, "t")
		}
		var seq uint64
		allocs[i] = testing.AllocsPerRun(20, func() {
			seq++
			b.HandleMessage(&Message{Topic: "t", Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
		})
		if c.pairs.Load() != 0 || c.whole.Load() != int64(n)*22 {
			t.Fatalf("%d streams of one topic: %d whole events, %d in two parts", n, c.whole.Load(), c.pairs.Load())
		}
	}
	if allocs[1] > allocs[0]+1 {
		t.Errorf("allocations grow with streams: %v", allocs)
	}
}
