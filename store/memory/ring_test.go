package memory

import (
	"testing"

	"github.com/herald-broker/herald/broker"
)

func TestRingAfter(t *testing.T) {
	const capacity = 5
	for published := 0; published <= 3*capacity; published++ {
		var r ring
		for s := 1; s <= published; s++ {
			r.push(&broker.Message{Seq: uint64(s)}, capacity)
		}
		last := uint64(published)
		oldest := uint64(max(published-capacity+1, 1))
		for since := uint64(0); since <= last+1; since++ {
			for limit := -1; limit <= capacity+1; limit++ {
				got := r.after(last, since, limit)
				checkRange(t, got, max(since+1, oldest), last, limit)
			}
		}
	}
}

// checkRange fails unless got is the oldest limit seqs of from..to.
func checkRange(t *testing.T, got []*broker.Message, from, to uint64, limit int) {
	t.Helper()
	want := 0
	if to >= from {
		want = int(to - from + 1)
	}
	if limit > 0 {
		want = min(want, limit)
	}
	if len(got) != want {
		t.Fatalf("from %d to %d limit %d: %d messages, want %d", from, to, limit, len(got), want)
	}
	for i, m := range got {
		if m.Seq != from+uint64(i) {
			t.Fatalf("from %d to %d limit %d: message %d has seq %d", from, to, limit, i, m.Seq)
		}
	}
}

func TestRingOff(t *testing.T) {
	var r ring
	r.push(&broker.Message{Seq: 1}, 0)
	if got := r.after(1, 0, 0); len(got) != 0 || r.buf != nil {
		t.Fatalf("a ring of capacity 0 kept %d messages", len(got))
	}
}

// Dropping the oldest messages early, then pushing again, keeps the run of
// seqs whole, through growth and wrapping alike.
func TestRingDropOldestThenPush(t *testing.T) {
	const capacity = 8
	for drops := 0; drops <= capacity; drops++ {
		for pushedFirst := 1; pushedFirst <= 2*capacity; pushedFirst++ {
			var r ring
			seq := uint64(0)
			push := func() {
				seq++
				r.push(&broker.Message{Seq: seq}, capacity)
			}
			for range pushedFirst {
				push()
			}
			for range drops {
				r.dropOldest()
			}
			held := max(min(pushedFirst, capacity)-drops, 0)
			checkRange(t, r.after(seq, 0, 0), seq-uint64(held)+1, seq, 0)
			for range capacity + 3 {
				push()
				held = min(held+1, capacity)
				checkRange(t, r.after(seq, 0, 0), seq-uint64(held)+1, seq, 0)
			}
		}
	}
}

func TestRingPushReportsDropped(t *testing.T) {
	var r ring
	for s := uint64(1); s <= 3; s++ {
		if d := r.push(&broker.Message{Seq: s}, 2); (d == nil) != (s <= 2) || (d != nil && d.Seq != s-2) {
			t.Fatalf("push %d dropped %v", s, d)
		}
	}
	m := &broker.Message{Seq: 9}
	var off ring
	if d := off.push(m, 0); d != m {
		t.Fatal("a ring of capacity 0 did not hand the message back")
	}
}
