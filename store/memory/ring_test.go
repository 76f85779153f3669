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
