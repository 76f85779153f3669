package e2e

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// One user joining and leaving a presence topic over and over on two
// nodes: the webhook's member_added and member_removed of that user and
// topic alternate, as joins and leaves do (section 11: in order per topic).
func TestSpecWebhookMembersAlternate(t *testing.T) {
	t.Parallel()
	backend := &hookBackend{reqs: map[string][]hookReq{}}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	redis := redistest.Start(t)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_CONNECT_URL=" + srv.URL + "/connect",
		"HERALD_WEBHOOK_URL=" + srv.URL + "/webhook", "HERALD_WEBHOOK_VACATED_DELAY=100ms",
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*"}
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	watcher := wsOpen(t, a.ws+"?mode=ok&user=w", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":"room.flip","presence":true}`)
	var wg sync.WaitGroup
	for _, n := range []*process{a, b} {
		c := wsOpen(t, n.ws+"?mode=ok&user=flip", dialOpts{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				for _, cmd := range []string{"subscribe", "unsubscribe"} {
					c.send(`{"type":%q,"id":"x","topic":"room.flip"}`, cmd)
					if m := c.nextObj(); m["id"] != "x" || m["type"] != cmd+"d" {
						t.Errorf("flip %d: %v", i, m)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	marker := wsOpen(t, b.ws+"?mode=ok&user=marker", dialOpts{})
	marker.cmd("s", `{"type":"subscribe","id":"s","topic":"room.flip"}`)
	var joins []string
	for m := watcher.nextObj(); m["user"] != "marker"; m = watcher.nextObj() {
		joins = append(joins, fmt.Sprint(m["type"]))
	}
	var events []string
	eventually(t, "the marker's member_added", func() bool {
		events = events[:0]
		for _, ev := range backend.events(0) {
			if ev["topic"] == "room.flip" && ev["user"] == "flip" {
				events = append(events, map[any]string{"member_added": "join", "member_removed": "leave"}[ev["name"]])
			}
			if ev["topic"] == "room.flip" && ev["user"] == "marker" {
				return true
			}
		}
		return false
	})
	if fmt.Sprint(events) != fmt.Sprint(joins) {
		t.Errorf("webhook member events of flip:\n%v\nthe joins and leaves the watcher got:\n%v", events, joins)
	}
	for i, ev := range events {
		if want := []string{"join", "leave"}[i%2]; ev != want {
			t.Fatalf("member event %d of flip is %s, want %s: %v", i, ev, want, events)
		}
	}
	t.Logf("%d member events of flip", len(events))
}
