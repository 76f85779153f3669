package broker

import (
	"testing"
)

// A message checked once publishes as Publish would, to its topic or, by
// To, to another; its data is copied at the publish; the zero value is
// refused without reaching the engine.
func TestCheckedMessage(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxMessageBytes: 8})
	if _, err := b.CheckMessage("a", []byte(`{"x":`), ""); CodeOf(err) != CodeBadRequest {
		t.Errorf("CheckMessage of data that is not JSON: %v", err)
	}
	data := []byte(`[1]`)
	m, err := b.CheckMessage("a", data, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.To("b..c", ""); CodeOf(err) != CodeInvalidTopic {
		t.Errorf("To a malformed topic: %v", err)
	}
	other, err := m.To("b", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m     CheckedMessage
		topic string
	}{{m, "a"}, {other, "b"}} {
		res, err := b.PublishMessage(t.Context(), c.m)
		if err != nil || res.Topic != c.topic || res.Seq != 1 || res.ID == "" {
			t.Errorf("PublishMessage to %s = %+v, %v", c.topic, res, err)
		}
	}
	copy(data, `[2]`)
	h, err := b.History(t.Context(), "b", 0, 0)
	if err != nil || len(h.Messages) != 1 || string(h.Messages[0].Data) != `[1]` {
		t.Errorf("history of b after the caller's data changed: %+v, %v", h.Messages, err)
	}
	if _, err := b.PublishMessage(t.Context(), CheckedMessage{}); CodeOf(err) != CodeInternal {
		t.Errorf("PublishMessage of the zero CheckedMessage: %v", err)
	}
	if st := b.Stats(); st.MessagesIn != 2 {
		t.Errorf("%d messages in, want the 2 checked ones", st.MessagesIn)
	}
}
