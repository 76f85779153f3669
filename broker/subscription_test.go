package broker

import (
	"fmt"
	"slices"
	"testing"
)

// step is one thing that happens to a subscription in a phase test.
type step struct {
	op      string   // "offer", "seen" (through a pattern), "release", "gap"
	seq     uint64   // the message's seq, the gap's end, or release's position
	from    uint64   // a gap's start
	history []uint64 // release's history
	want    outcome  // what an offer or gap must report
}

func (st step) message() *Message {
	m := &Message{Topic: "t", Epoch: "e1", Seq: st.seq, ID: "id", Data: []byte(`1`)}
	if st.op == "gap" {
		m.gapFrom = st.from
	}
	return m
}

// TestSubscriptionPhases walks a subscription through its setup, its
// release and its live phase, checking each transition and what the
// connection gets.
func TestSubscriptionPhases(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		plain   bool
		steps   []step
		want    []string // what the connection got, as events summarises it
		live    bool
	}{
		{"set up: holds, then sends what is newer than its start", "t", true, []step{
			{op: "offer", seq: 1, want: held}, {op: "offer", seq: 2, want: held}, {op: "offer", seq: 3, want: held},
			{op: "release", seq: 1},
		}, []string{"2", "3"}, true},
		{"resume: history first, then held, each once", "t", false, []step{
			{op: "offer", seq: 3, want: held}, {op: "offer", seq: 4, want: held},
			{op: "release", seq: 3, history: []uint64{2, 3}},
		}, []string{"2", "3", "4"}, true},
		{"what a pattern delivered meanwhile is not sent again", "t", false, []step{
			{op: "seen", seq: 3}, {op: "offer", seq: 3, want: held}, {op: "seen", seq: 4}, {op: "offer", seq: 4, want: held},
			{op: "offer", seq: 5, want: held},
			{op: "release", seq: 2, history: []uint64{1, 2}},
		}, []string{"1", "2", "5"}, true},
		{"the cursor goes past the start to what a pattern delivered", "t", true, []step{
			{op: "seen", seq: 3}, {op: "seen", seq: 4}, {op: "release", seq: 2}, {op: "offer", seq: 4, want: repeated},
			{op: "offer", seq: 5, want: sent},
		}, []string{"5"}, true},
		{"live exact: new sent, repeated skipped", "t", false, []step{
			{op: "release", seq: 0}, {op: "offer", seq: 1, want: sent}, {op: "offer", seq: 1, want: repeated},
			{op: "seen", seq: 2}, {op: "offer", seq: 2, want: sent},
		}, []string{"1", "2"}, true},
		{"live plain exact: before its start is another route's", "t", true, []step{
			{op: "release", seq: 5}, {op: "offer", seq: 4, want: beforeStart}, {op: "offer", seq: 6, want: sent},
		}, []string{"6"}, true},
		{"live exact: a gap is narrowed to what was not delivered", "t", false, []step{
			{op: "release", seq: 0}, {op: "offer", seq: 1, want: sent}, {op: "offer", seq: 2, want: sent},
			{op: "gap", from: 2, seq: 4, want: sent}, {op: "gap", from: 3, seq: 4, want: repeated},
		}, []string{"1", "2", "g3-4"}, true},
		{"live pattern: everything, tagged", "t.*", true, []step{
			{op: "release"}, {op: "offer", seq: 2, want: sent}, {op: "offer", seq: 2, want: sent},
		}, []string{"t.*:2", "t.*:2"}, true},
		{"pattern set up: held, then sent tagged", "t.*", true, []step{
			{op: "offer", seq: 1, want: held}, {op: "gap", from: 2, seq: 3, want: held}, {op: "release"},
		}, []string{"t.*:1", "t.*:g2-3"}, true},
		{"released twice: the second sends nothing", "t", false, []step{
			{op: "offer", seq: 1, want: held}, {op: "release"}, {op: "release"},
		}, []string{"1"}, true},
		{"never released: nothing sent", "t", false, []step{
			{op: "offer", seq: 1, want: held}, {op: "seen", seq: 1},
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBroker(t, Config{})
			c := newFakeConn(t)
			sub := newSubscription(b.Connect(c, ClientInfo{}), tt.pattern, tt.plain)
			for i, st := range tt.steps {
				runStep(t, sub, st, i)
			}
			if got := events(t, c, "t"); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if live := sub.setup == nil; live != tt.live {
				t.Errorf("live %v, want %v", live, tt.live)
			}
		})
	}
}

func runStep(t *testing.T, sub *subscription, st step, i int) {
	t.Helper()
	var batch Batch
	m := st.message()
	switch st.op {
	case "offer", "gap":
		enc := sub.session.b.newEncoded(m, sub.tag())
		if got := sub.offer(&enc, &batch); got != st.want {
			t.Fatalf("step %d: %s %d: outcome %d, want %d", i, st.op, st.seq, got, st.want)
		}
	case "seen":
		sub.sawElsewhere(m)
	case "release":
		pos := Position{Epoch: "e1", Seq: st.seq}
		if sub.plain && sub.exact {
			sub.start = pos
		}
		var history []*Message
		for _, seq := range st.history {
			history = append(history, step{seq: seq}.message())
		}
		sub.release(pos, sub.historyFrames(history), false)
	default:
		panic(fmt.Sprint("unknown step ", st.op))
	}
}

// TestHeldOverflowClosesOnce: past maxHeldMessages a subscription being
// set up closes the connection as a slow consumer, once, and keeps no
// more.
func TestHeldOverflowClosesOnce(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := newFakeConn(t)
	sub := newSubscription(b.Connect(c, ClientInfo{}), "t", true)
	var batch Batch
	for seq := range uint64(maxHeldMessages + 10) {
		m := step{seq: seq + 1}.message()
		enc := b.newEncoded(m, "")
		if got := sub.offer(&enc, &batch); got != held {
			t.Fatalf("offer %d while set up: %d", seq+1, got)
		}
	}
	if c.code() != CloseSlowConsumer || len(sub.setup.held) != maxHeldMessages+1 {
		t.Errorf("close %d with %d held", c.code(), len(sub.setup.held))
	}
}
