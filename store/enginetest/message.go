package enginetest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// awkwardData is JSON whose bytes an engine must not touch: escapes,
// non-ASCII, odd spacing, a NUL escape, and enough of it to cross buffers.
var awkwardData = []byte(`{ "text" : "h\u00e9llo \"w\" \\ \u0000 ✓ 🚀",` +
	"\n\t\"pad\": \"" + strings.Repeat("x", 70_000) + `", "n": 1.50e3 }`)

// testMessagePreserved: Data, ID and Time come back byte for byte from the
// handler and from History, with the topic, epoch and seq of the result.
func (s *suite) testMessagePreserved(t *testing.T) {
	e, r := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("bytes")
	subscribe(t, ctx, e, topic)
	req := broker.PublishRequest{
		Topic: topic,
		Data:  awkwardData,
		ID:    "4b0f6a1e-3c2d-4e5f-8a9b-0c1d2e3f4a5b",
		Time:  1764074400123,
	}
	res := publish(t, ctx, e, req)
	delivered := r.waitFor(t, topic, 1)[0]
	checkMessage(t, "delivered", delivered, req, res)
	h := history(t, ctx, e, topic, 0, 0)
	if len(h.Messages) != 1 {
		t.Fatalf("history holds %d messages, want 1", len(h.Messages))
	}
	checkMessage(t, "history", h.Messages[0], req, res)
}

func checkMessage(t *testing.T, where string, m *broker.Message, req broker.PublishRequest, res broker.PublishResult) {
	t.Helper()
	if m.Topic != req.Topic || m.ID != req.ID || m.Time != req.Time {
		t.Fatalf("%s: topic %q id %q time %d, want %q %q %d", where, m.Topic, m.ID, m.Time, req.Topic, req.ID, req.Time)
	}
	if m.Epoch != res.Epoch || m.Seq != res.Seq {
		t.Fatalf("%s: epoch %q seq %d, want %q %d", where, m.Epoch, m.Seq, res.Epoch, res.Seq)
	}
	if !bytes.Equal(m.Data, req.Data) {
		t.Fatalf("%s: data of %d bytes differs from the %d published", where, len(m.Data), len(req.Data))
	}
}

// testCancelledContext: a call whose context is already cancelled fails and
// publishes nothing.
func (s *suite) testCancelledContext(t *testing.T) {
	e, _ := s.defaultEngine(t)
	topic := uniqueTopic("cancelled")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Publish(cancelled, request(topic)); err == nil {
		t.Fatal("Publish with a cancelled context succeeded")
	}
	if _, err := e.History(cancelled, topic, 0, 0); err == nil {
		t.Fatal("History with a cancelled context succeeded")
	}
	if _, err := e.Position(cancelled, topic); err == nil {
		t.Fatal("Position with a cancelled context succeeded")
	}
	if p := position(t, testContext(t), e, topic); p.Seq != 0 {
		t.Fatalf("topic at seq %d after a cancelled publish, want 0", p.Seq)
	}
}

// testEmptyTopic: an empty topic is refused by every call that takes one.
func (s *suite) testEmptyTopic(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	if _, err := e.Publish(ctx, request("")); err == nil {
		t.Fatal("Publish to an empty topic succeeded")
	}
	if _, err := e.History(ctx, "", 0, 0); err == nil {
		t.Fatal("History of an empty topic succeeded")
	}
	if _, err := e.Position(ctx, ""); err == nil {
		t.Fatal("Position of an empty topic succeeded")
	}
}
