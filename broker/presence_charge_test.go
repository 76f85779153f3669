package broker

import (
	"fmt"
	"strings"
	"testing"
)

// A presence reply counts as one more command for each
// ResumeCommandBytes of it, as a resume's history does, toward its
// connection's rate and its address's budget: a page of 150 members with
// 900 bytes of info each (some 140 KB) takes 2 more, and a small one none.
func TestPresencePagesCountAsCommandsByTheirSize(t *testing.T) {
	info := fmt.Sprintf(`{"p":%q}`, strings.Repeat("x", 900))
	b, _ := newTestBroker(t, Config{PresenceTopics: []string{"room.*"}, MaxPresenceBytes: 1 << 20, MaxResumeBytes: 4 << 20})
	for i := range 150 {
		c := connect(t, b, ClientInfo{Subject: fmt.Sprintf("u%03d", i), Info: []byte(info)})
		c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	}
	c := connect(t, b, ClientInfo{Subject: "small"})
	c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.2"}`)
	for _, tc := range []struct {
		topic string
		spent int64
	}{{"room.2", 0}, {"room.1", 2}} {
		budget := &spendingBudget{}
		asker := connect(t, b, ClientInfo{Pacer: budget})
		r := asker.do(t, "p", `{"type":"presence","id":"p","topic":%q}`, tc.topic)
		if r["type"] != "presence" {
			t.Fatalf("%s: reply %v", tc.topic, r)
		}
		if got := budget.spent.Load(); got != tc.spent {
			t.Errorf("%s: the address's budget was spent %d more, want %d", tc.topic, got, tc.spent)
		}
	}
}
