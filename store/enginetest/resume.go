package enginetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// testResumeHistory: a resume's read (broker.ResumeReader) stops after
// the message that takes it past its budget, and reads nothing from
// another epoch than the one it resumes; its position is the topic's
// whatever it read.
func (s *suite) testResumeHistory(t *testing.T) {
	e, _ := s.defaultEngine(t)
	r, ok := e.(broker.ResumeReader)
	if !ok {
		t.Fatalf("%T is no broker.ResumeReader", e)
	}
	ctx := testContext(t)
	topic := uniqueTopic("resume.budget")
	const published = 40
	pad := strings.Repeat("x", 1000)
	var last broker.PublishResult
	for i := range published {
		req := request(topic)
		req.Data = fmt.Appendf(nil, `"%02d%s"`, i, pad)
		last = publish(t, ctx, e, req)
	}
	all := history(t, ctx, e, topic, 0, 0).Messages
	tenBytes := 0 // what the first ten count, less one byte: the tenth passes it
	for _, m := range all[:10] {
		tenBytes += broker.ResumeBytes(m)
	}
	for _, tc := range []struct {
		since    broker.Position
		maxBytes int
		want     int // messages read
	}{
		{broker.Position{Epoch: last.Epoch}, tenBytes - 1, 10},
		{broker.Position{Epoch: last.Epoch}, tenBytes, 11},
		{broker.Position{Epoch: last.Epoch, Seq: 35}, tenBytes, 5},
		{broker.Position{Epoch: last.Epoch}, 1, 1},
		{broker.Position{}, 1 << 20, published},             // any epoch
		{broker.Position{Epoch: "other"}, 1 << 20, 0},       // another epoch: none
		{broker.Position{Epoch: last.Epoch, Seq: 40}, 1, 0}, // nothing after since
	} {
		h, err := r.ResumeHistory(ctx, topic, tc.since, tc.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if h.Epoch != last.Epoch || h.Seq != published {
			t.Fatalf("%+v: position %+v, want %s at %d", tc, h.Position, last.Epoch, published)
		}
		if len(h.Messages) != tc.want {
			t.Fatalf("%+v: read %d messages, want %d", tc, len(h.Messages), tc.want)
		}
		for i, m := range h.Messages {
			if m.Seq != tc.since.Seq+uint64(i)+1 || m.Epoch != last.Epoch {
				t.Fatalf("%+v: message %d is %d of %s", tc, i, m.Seq, m.Epoch)
			}
		}
	}
}
