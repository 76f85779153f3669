package e2e

import (
	"net/http"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 3: /readyz answers 200 only while the node can take publishes. A
// node that has just answered a publish 503 because Redis went away does
// not answer the next /readyz with a ready answer it gave before.
func TestSpecReadyzAfterAPublishFoundRedisGone(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	n := startProcess(t, "ready", "HERALD_REDIS_URL="+redis.URL())
	if code := status(t, n.base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with Redis up: %d", code)
	}
	redis.Stop()
	if code, body := rawPost(t, &n.node, "/api/publish", `{"topic":"r","data":1}`); code != http.StatusServiceUnavailable {
		t.Fatalf("publish with Redis gone: %d %s, want 503", code, body)
	}
	if code := status(t, n.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz right after a publish answered 503 for want of Redis: %d, want 503", code)
	}
}
