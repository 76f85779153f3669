package broker

import (
	"fmt"
	"slices"
	"testing"
)

// events summarises the messages and gaps c got, in order: "3" for
// message 3, "g3-5" for a gap of 3 to 5, each with a leading "p:" when it
// came through a pattern. A gap must name its topic and epoch.
func events(t *testing.T, c *fakeConn, topic string) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		var ev string
		switch m["type"] {
		case "message":
			ev = fmt.Sprint(m["seq"])
		case "gap":
			if m["topic"] != topic || m["epoch"] != "e1" || m["seq"] != nil {
				t.Errorf("gap %v, want topic %s in epoch e1", m, topic)
			}
			ev = fmt.Sprintf("g%d-%d", num(t, m["from"]), num(t, m["to"]))
		default:
			continue
		}
		if p, ok := m["pattern"]; ok {
			ev = fmt.Sprint(p, ":", ev)
		}
		out = append(out, ev)
	}
	return out
}

// lose makes the fake engine skip n seqs of topic, as if they were
// accepted and then lost before this node could deliver them.
func lose(e *fakeEngine, topic string, n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.topic(topic).seq += n
}

// TestGapTakesThePlaceOfLostMessages: an exact subscriber, a pattern
// subscriber and a connection with both (and a second pattern) each get
// the gap once, in order between the messages around it, tagged with the
// pattern when it came through one.
func TestGapTakesThePlaceOfLostMessages(t *testing.T) {
	tests := []struct {
		name   string
		topics []string
		want   []string
	}{
		{"exact", []string{"t.a"}, []string{"1", "2", "g3-5", "6"}},
		{"pattern", []string{"t.*"}, []string{"t.*:1", "t.*:2", "t.*:g3-5", "t.*:6"}},
		{"exact and patterns", []string{"t.>", "t.a", "t.*"}, []string{"1", "2", "g3-5", "6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, e := newTestBroker(t, Config{})
			c := connect(t, b, ClientInfo{})
			for i, topic := range tt.topics {
				c.do(t, fmt.Sprint(i), `{"type":"subscribe","id":"%d","topic":%q}`, i, topic)
			}
			settle(t, c)
			publishN(t, b, "t.a", 2)
			lose(e, "t.a", 3)
			b.HandleGap(Gap{Topic: "t.a", Epoch: "e1", From: 3, To: 5})
			publishN(t, b, "t.a", 1)
			if got := events(t, c.fakeConn, "t.a"); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestGapIsNarrowedToWhatWasNotDelivered: an exact subscription that
// already delivered part of the range is told only of the rest, and of
// nothing when it delivered all of it; a connection with only a pattern is
// told of the whole range.
func TestGapIsNarrowedToWhatWasNotDelivered(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	exact := connect(t, b, ClientInfo{})
	exact.do(t, "1", `{"type":"subscribe","id":"1","topic":"t"}`)
	exact.do(t, "2", `{"type":"subscribe","id":"2","topic":">"}`)
	pattern := connect(t, b, ClientInfo{})
	pattern.do(t, "1", `{"type":"subscribe","id":"1","topic":">"}`)
	settle(t, exact)
	settle(t, pattern)
	publishN(t, b, "t", 4)
	b.HandleGap(Gap{Topic: "t", Epoch: "e1", From: 3, To: 6})
	b.HandleGap(Gap{Topic: "t", Epoch: "e1", From: 2, To: 4})
	lose(e, "t", 2)
	publishN(t, b, "t", 1)
	if got, want := events(t, exact.fakeConn, "t"), []string{"1", "2", "3", "4", "g5-6", "7"}; !slices.Equal(got, want) {
		t.Errorf("exact: got %v, want %v", got, want)
	}
	want := []string{">:1", ">:2", ">:3", ">:4", ">:g3-6", ">:g2-4", ">:7"}
	if got := events(t, pattern.fakeConn, "t"); !slices.Equal(got, want) {
		t.Errorf("pattern: got %v, want %v", got, want)
	}
}

// TestGapBeforeTheStartIsNotSent: a subscription that starts after a gap,
// plain or resumed, is not told of it.
func TestGapBeforeTheStartIsNotSent(t *testing.T) {
	for _, since := range []string{"", `,"since":{"epoch":"e1","seq":3}`} {
		b, _ := newTestBroker(t, Config{})
		c := connect(t, b, ClientInfo{})
		publishN(t, b, "t", 5)
		c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t"%s}`, since)
		settle(t, c)
		b.HandleGap(Gap{Topic: "t", Epoch: "e1", From: 2, To: 5})
		publishN(t, b, "t", 1)
		want := []string{"6"}
		if since != "" {
			want = []string{"4", "5", "6"}
		}
		if got := events(t, c.fakeConn, "t"); !slices.Equal(got, want) {
			t.Errorf("since %q: got %v, want %v", since, got, want)
		}
	}
}

// TestGapHeldDuringSetupIsSentInOrder: a gap that comes while a
// subscription is being set up is held with the messages and sent in
// order after release, narrowed to what the start did not cover.
func TestGapHeldDuringSetupIsSentInOrder(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		start   uint64
		want    []string
	}{
		{"exact", "t", 1, []string{"2", "g3-4", "5"}},
		{"exact, the start inside the gap", "t", 3, []string{"g4-4", "5"}},
		{"exact, the gap before the start", "t", 4, []string{"5"}},
		{"pattern", "*", 0, []string{"*:2", "*:g3-4", "*:5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBroker(t, Config{})
			c := newFakeConn(t)
			s := b.Connect(c, ClientInfo{})
			start := Position{Epoch: "e1", Seq: tt.start}
			sub := addSub(b, s, tt.pattern, start, false)
			b.HandleMessage(&Message{Topic: "t", Epoch: "e1", Seq: 2, ID: "id", Data: []byte(`1`)})
			b.HandleGap(Gap{Topic: "t", Epoch: "e1", From: 3, To: 4})
			b.HandleMessage(&Message{Topic: "t", Epoch: "e1", Seq: 5, ID: "id", Data: []byte(`1`)})
			if got := events(t, c, "t"); len(got) != 0 {
				t.Fatalf("sent before release: %v", got)
			}
			b.goLive(sub, subStart{pos: start})
			if got := events(t, c, "t"); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestGapThroughPatternDuringSetupIsNotRepeated: while the connection's
// exact subscription is being set up its pattern delivers a gap, which
// the exact subscription does not send again once live.
func TestGapThroughPatternDuringSetupIsNotRepeated(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := newFakeConn(t)
	s := b.Connect(c, ClientInfo{})
	addSub(b, s, "*", Position{}, true)
	start := Position{Epoch: "e1", Seq: 1}
	sub := addSub(b, s, "t", start, false)
	b.HandleMessage(&Message{Topic: "t", Epoch: "e1", Seq: 2, ID: "id", Data: []byte(`1`)})
	b.HandleGap(Gap{Topic: "t", Epoch: "e1", From: 3, To: 4})
	b.goLive(sub, subStart{pos: start})
	b.HandleMessage(&Message{Topic: "t", Epoch: "e1", Seq: 5, ID: "id", Data: []byte(`1`)})
	if got, want := events(t, c, "t"), []string{"*:2", "*:g3-4", "5"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
