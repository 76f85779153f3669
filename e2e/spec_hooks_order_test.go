package e2e

import (
	"fmt"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// One user joining and leaving a presence topic over and over on two
// nodes: the webhook's member_added and member_removed of that user and
// topic alternate, as joins and leaves do (section 11: in order per topic).
func TestSpecWebhookMembersAlternate(t *testing.T) {
	t.Parallel()
	backend, a, b := startHookedPair(t, redistest.Start(t).URL(), "100ms")
	watcher := wsOpen(t, a.ws+"?mode=ok&user=w", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":"room.flip","presence":true}`)
	flip(t, []*client{wsOpen(t, a.ws+"?mode=ok&user=flip", dialOpts{}),
		wsOpen(t, b.ws+"?mode=ok&user=flip", dialOpts{})}, "room.flip", 50)
	marker := wsOpen(t, b.ws+"?mode=ok&user=marker", dialOpts{})
	marker.cmd("s", `{"type":"subscribe","id":"s","topic":"room.flip"}`)
	joins := typesUntil(watcher, "marker")
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
	mustAlternate(t, "member event", events)
	t.Logf("%d member events of flip", len(events))
}
