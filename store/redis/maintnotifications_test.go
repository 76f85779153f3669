package redis_test

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// TestNoMaintNotifications: the engine's clients have go-redis's
// maintenance notifications off. Left on "auto", the first connection
// whose handshake Redis refuses writes the mode off under its client's
// lock while a sticky connection of the same client reads it under its
// own: a data race in go-redis that -race caught in the Cluster stamp's
// check (clients.go, noMaintNotifications).
func TestNoMaintNotifications(t *testing.T) {
	t.Parallel()
	testNoMaintNotifications(t, redistest.Start(t).URL())
}

func testNoMaintNotifications(t *testing.T, url string) {
	e := newEngine(t, url, redis.Config{Prefix: uniquePrefix(t)})
	modes := redis.MaintNotificationModes(e)
	if len(modes) < 3 {
		t.Fatalf("modes of %d clients, want at least the engine's three", len(modes))
	}
	for i, m := range modes {
		if m != "disabled" {
			t.Errorf("client %d of %d: maintenance notifications %q, want disabled", i, len(modes), m)
		}
	}
}
