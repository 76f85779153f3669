package e2e

// Helpers of the spec tests that run two herald nodes on one Redis with a
// hook backend, and of those that flip one user in and out of a topic.

import (
	"net/http/httptest"
	"sync"
	"testing"
)

// startHookBackend serves a hookBackend that fails its first
// webhookFailures webhook batches, and returns it with its URL.
func startHookBackend(t testing.TB, webhookFailures int) (*hookBackend, string) {
	backend := &hookBackend{reqs: map[string][]hookReq{}, webhookFailures: webhookFailures}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	return backend, srv.URL
}

// startHookedPair starts nodes a and b on redisURL with their connect
// hook and webhook on one backend, and presence on room.*.
func startHookedPair(t *testing.T, redisURL, vacatedDelay string) (backend *hookBackend, a, b *process) {
	backend, url := startHookBackend(t, 0)
	env := []string{"HERALD_REDIS_URL=" + redisURL, "HERALD_CONNECT_URL=" + url + "/connect",
		"HERALD_WEBHOOK_URL=" + url + "/webhook", "HERALD_WEBHOOK_VACATED_DELAY=" + vacatedDelay,
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*"}
	return backend, startProcess(t, "a", env...), startProcess(t, "b", env...)
}

// flip has every one of conns, at once, subscribe to topic and
// unsubscribe again, times over; each command waits for its reply.
func flip(t *testing.T, conns []*client, topic string, times int) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range times {
				for _, cmd := range []string{"subscribe", "unsubscribe"} {
					c.send(`{"type":%q,"id":"x","topic":%q}`, cmd, topic)
					if m := c.nextObj(); m["id"] != "x" || m["type"] != cmd+"d" {
						t.Errorf("flip %d: %v", i, m)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// typesUntil reads the watcher's frames up to the first of user and
// returns the types of those before it.
func typesUntil(watcher *client, user string) []string {
	watcher.t.Helper()
	var types []string
	for f := watcher.next(); f.User != user; f = watcher.next() {
		types = append(types, f.Type)
	}
	return types
}

// mustAlternate fails unless events go join, leave, join, ...
func mustAlternate(t *testing.T, what string, events []string) {
	t.Helper()
	for i, ev := range events {
		if want := []string{"join", "leave"}[i%2]; ev != want {
			t.Fatalf("%s %d of flip is %s, want %s: %v", what, i, ev, want, events)
		}
	}
}
