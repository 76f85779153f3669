package broker

import (
	"strings"
	"testing"
)

// What a queue already holds counts against a resume's bound, and a first
// message too large for what is left is kept only when the queue is as
// good as empty: otherwise it would overflow the queue, and on an empty
// one it must go or resuming again would never move on.
func TestResumeSendsCountWhatIsQueued(t *testing.T) {
	const limit = 1000
	msg := func(seq uint64, size int) *Message {
		return &Message{Topic: "t", Seq: seq, Data: []byte(`"` + strings.Repeat("x", size) + `"`)}
	}
	for _, tc := range []struct {
		name   string
		queued int
		sizes  []int
		want   int
	}{
		{"empty queue keeps what fits", 0, []int{300, 300, 300}, 2},
		{"empty queue keeps a first message past the bound", 0, []int{2000, 10}, 1},
		{"replies queued count as empty", 200, []int{2000}, 1},
		{"a queue that holds more keeps none past the bound", 600, []int{500}, 0},
		{"what is queued leaves less room", 400, []int{300, 300}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []*Message
			for i, size := range tc.sizes {
				msgs = append(msgs, msg(uint64(i+1), size))
			}
			r := &resumeSends{limit: limit, queued: tc.queued, perCommand: ResumeCommandBytes}
			if got := len(r.keep(msgs)); got != tc.want {
				t.Fatalf("kept %d of %d messages, want %d", got, len(msgs), tc.want)
			}
		})
	}
}
