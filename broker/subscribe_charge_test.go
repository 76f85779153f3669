package broker

import "testing"

// A client's subscribe that makes the node hold a topic counts
// OccupancyCommands more with the webhooks on, and one that joins a
// topic's presence PresenceJoinCommands more, webhooks or not, and a
// signed-in client's MemberChangeCommands more again, and with the
// webhooks on MemberEventCommands more again (its user's member_added
// and member_removed); one to a topic the node holds already, or a
// pattern, counts nothing more.
func TestSubscribesCountTheirRedisWork(t *testing.T) {
	for _, webhooks := range []bool{true, false} {
		cfg := Config{PresenceTopics: []string{"room.*"}}
		occupancy, member := int64(0), int64(MemberChangeCommands)
		if webhooks {
			cfg.Events = &eventLog{}
			occupancy, member = OccupancyCommands, MemberChangeCommands+MemberEventCommands
		}
		b, _ := newTestBroker(t, cfg)
		first := connect(t, b, ClientInfo{})
		first.do(t, "s", `{"type":"subscribe","id":"s","topic":"held"}`)
		for _, tc := range []struct {
			topic string
			user  string
			more  int64
		}{
			{"new", "", occupancy},
			{"held", "", 0},
			{"x.*", "", 0},
			{"room.1", "", occupancy + PresenceJoinCommands},
			{"held", "ada", 0},
			{"room.2", "ada", occupancy + PresenceJoinCommands + member},
		} {
			budget := &spendingBudget{}
			c := connect(t, b, ClientInfo{Pacer: budget, Subject: tc.user})
			if r := c.do(t, tc.topic, `{"type":"subscribe","id":%q,"topic":%q}`, tc.topic, tc.topic); r["type"] != "subscribed" {
				t.Fatalf("subscribe %s: %v", tc.topic, r)
			}
			if got := budget.spent.Load(); got != tc.more {
				t.Errorf("webhooks %v: a subscribe to %s by %q took %d more commands, want %d", webhooks, tc.topic, tc.user, got, tc.more)
			}
		}
	}
}
