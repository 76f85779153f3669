package main

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// The Redis engine is given HERALD_PRESENCE_LAPSE.
func TestEngineIsGivenThePresenceLapse(t *testing.T) {
	if got := redisConfig(Config{RedisURL: "redis://127.0.0.1:6379/0", PresenceLapse: 3 * time.Second}, zap.NewNop()).PresenceLapse; got != 3*time.Second {
		t.Fatalf("the engine's presence lapse: %v, want 3s", got)
	}
}

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
