package broker

import (
	"context"
	"strings"
	"testing"
)

// TestStreamHeldMessageOnceThroughTopicAndPattern: a message published
// while a stream of a topic and a pattern matching it opens is held by
// both subscriptions; the stream gets it once, through the topic, and
// the pattern's other topics' messages through the pattern.
func TestStreamHeldMessageOnceThroughTopicAndPattern(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	o, err := b.OpenStream(context.Background(), ClientInfo{}, []string{"t", "*"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"t", "u"} {
		if _, err := b.Publish(context.Background(), topic, []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	c := &eventConn{}
	o.Start(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []string
	for _, ev := range c.events {
		if strings.Contains(ev, `"type":"message"`) {
			got = append(got, ev)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], `"topic":"t","epoch"`) || !strings.Contains(got[1], `"topic":"u","pattern":"*"`) {
		t.Errorf("messages %q; want t's once through t, then u's through *", got)
	}
}
