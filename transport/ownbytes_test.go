package transport

import (
	"math/rand/v2"
	"testing"
)

// ownBytes gives back exactly the own bytes that leave the queue, against
// a queue that marks each byte: own and other frames queued at the tail,
// others put at the head (a direct ping's rest), writes from the head and
// drops of all but the first bytes, in any order.
func TestOwnBytesFollowTheQueueByteForByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		o := newOwnBytes()
		var marks []bool // the queue, a byte each: own or not
		counted := 0     // own bytes added and not given back
		for step := range 200 {
			switch op := rng.IntN(10); {
			case op < 3:
				n := 1 + rng.IntN(50)
				o.add(len(marks), n)
				counted += n
				marks = append(marks, repeat(true, n)...)
			case op < 6:
				marks = append(marks, repeat(false, 1+rng.IntN(80))...)
			case op < 7:
				n := 1 + rng.IntN(5)
				o.front(n)
				marks = append(repeat(false, n), marks...)
			case op < 9:
				n := rng.IntN(len(marks) + 1)
				counted -= o.written(n)
				marks = marks[n:]
			default:
				n := rng.IntN(len(marks) + 1)
				counted -= o.keep(n)
				marks = marks[:n]
			}
			want := 0
			for _, own := range marks {
				if own {
					want++
				}
			}
			if counted != want {
				t.Fatalf("run %d, step %d: %d own bytes counted, %d queued", run, step, counted, want)
			}
		}
	}
}

func repeat(v bool, n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = v
	}
	return b
}
