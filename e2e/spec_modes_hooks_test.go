package e2e

import (
	"fmt"
	"slices"
	"testing"
)

// The check of spec_modes_contract_test.go on webhooks: section 11 over
// presence topics that on a Cluster live on three masters, with users on
// both nodes.

// webhooksAcrossMasters: on each topic a user flips in and out from both
// nodes; the webhook's member events of that user are the joins and
// leaves a watcher got, in that order, and once each; every topic is
// occupied once and, once everybody left, vacated once; every connection
// that closed is reported once, with its close code (section 11).
func webhooksAcrossMasters(t *testing.T, backend *hookBackend, a, b *process, spread func(string) []string) {
	ts := spread("room.h")
	sessions := map[string]string{} // session: user
	for i, topic := range ts {
		watcher := wsOpen(t, a.ws+"?token="+personToken(t, fmt.Sprint("w", i), nil), dialOpts{})
		watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
		flips := []*client{wsOpen(t, a.ws+"?token="+personToken(t, "flip", nil), dialOpts{}),
			wsOpen(t, b.ws+"?token="+personToken(t, "flip", nil), dialOpts{})}
		flip(t, flips, topic, 20)
		marker := wsOpen(t, b.ws+"?token="+personToken(t, "marker", nil), dialOpts{})
		marker.cmd("s", `{"type":"subscribe","id":"s","topic":%q}`, topic)
		joins := typesUntil(watcher, "marker")
		var events []string
		eventually(t, "the marker's member_added on "+topic, func() bool {
			events = events[:0]
			for _, ev := range backend.events(0) {
				if ev["topic"] == topic && ev["user"] == "flip" {
					events = append(events, map[any]string{"member_added": "join", "member_removed": "leave"}[ev["name"]])
				}
				if ev["topic"] == topic && ev["user"] == "marker" {
					return true
				}
			}
			return false
		})
		if fmt.Sprint(events) != fmt.Sprint(joins) {
			t.Errorf("%s: webhook member events of flip:\n%v\nthe joins and leaves the watcher got:\n%v", topic, events, joins)
		}
		for _, c := range append(flips, watcher, marker) {
			sessions[c.session] = "?"
			c.clientClose()
		}
		sessions[watcher.session], sessions[marker.session] = fmt.Sprint("w", i), "marker"
		sessions[flips[0].session], sessions[flips[1].session] = "flip", "flip"
	}

	eventually(t, "every topic vacated, every connection reported", func() bool {
		n := 0
		for _, ev := range backend.events(0) {
			if ev["name"] == "topic_vacated" && slices.Contains(ts, fmt.Sprint(ev["topic"])) ||
				ev["name"] == "client_disconnected" && sessions[fmt.Sprint(ev["session"])] != "" {
				n++
			}
		}
		return n >= len(ts)+len(sessions)
	})
	counts := map[string]int{}
	for _, ev := range backend.events(0) {
		switch ev["name"] {
		case "topic_occupied", "topic_vacated":
			if slices.Contains(ts, fmt.Sprint(ev["topic"])) {
				counts[fmt.Sprint(ev["name"], " ", ev["topic"])]++
			}
		case "client_disconnected":
			if user, ok := sessions[fmt.Sprint(ev["session"])]; ok {
				counts["client_disconnected "+fmt.Sprint(ev["session"])]++
				if ev["code"] != 1000.0 || ev["user"] != user {
					t.Errorf("%v, want code 1000, user %s", ev, user)
				}
			}
		}
	}
	for _, topic := range ts {
		for _, name := range []string{"topic_occupied", "topic_vacated"} {
			if n := counts[name+" "+topic]; n != 1 {
				t.Errorf("%s of %s sent %d times, want once", name, topic, n)
			}
		}
	}
	for session := range sessions {
		if n := counts["client_disconnected "+session]; n != 1 {
			t.Errorf("client_disconnected of %s (%s) sent %d times, want once", session, sessions[session], n)
		}
	}
}
