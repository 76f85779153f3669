package node

import "testing"

// A resume reads a write queue less the room for its frames, or half a
// queue too small for that room.
func TestResumeBudgetLeavesRoomInTheQueue(t *testing.T) {
	for _, c := range []struct{ queue, want int }{
		{0, 960 << 10},       // the default queue, 1 MiB
		{1 << 20, 960 << 10}, // the same, said
		{4 << 20, 4<<20 - 64<<10},
		{96 << 10, 48 << 10}, // under 128 KiB: half
		{10432, 5216},        // the least queue
	} {
		if got := resumeBudget(c.queue); got != c.want {
			t.Errorf("resumeBudget(%d) = %d, want %d", c.queue, got, c.want)
		}
	}
}
