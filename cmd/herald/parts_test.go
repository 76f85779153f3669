package main

import "testing"

// The Redis engine is told which topics keep presence as the broker
// decides it: topics, not patterns, under HERALD_PRESENCE_TOPICS.
func TestEngineKnowsThePresenceTopics(t *testing.T) {
	keeps := keepsPresence([]string{"room.*", "lobby"})
	for topic, want := range map[string]bool{
		"room.1": true, "lobby": true, "news.1": false, "room.1.a": false, "room.*": false, "lobby.x": false,
	} {
		if got := keeps(topic); got != want {
			t.Errorf("%q keeps presence: %v, want %v", topic, got, want)
		}
	}
	if keepsPresence(nil)("room.1") {
		t.Error("with no presence topics, a topic keeps presence")
	}
}
