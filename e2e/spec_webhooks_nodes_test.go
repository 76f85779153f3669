package e2e

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// Tests of section 11 (backend hooks) of the wire protocol, as for
// spec_hooks_test.go, with two nodes on one Redis.

// Two nodes on one Redis: occupancy and membership count cluster-wide,
// and each event is sent once.
func TestSpecWebhooksAcrossNodes(t *testing.T) {
	t.Parallel()
	backend, a, b := startHookedPair(t, redistest.Start(t).URL(), "500ms")
	var conns []*client
	for _, c := range []struct {
		n    *process
		user string
	}{{a, "u"}, {b, "u"}, {b, "v"}, {a, "v"}} {
		conn := wsOpen(t, c.n.ws+"?mode=ok&user="+c.user, dialOpts{})
		conn.cmd("s", `{"type":"subscribe","id":"s","topic":"room.c"}`)
		conns = append(conns, conn)
	}
	for _, c := range conns {
		c.clientClose()
	}
	for _, r := range backend.requests("/connect") {
		if sig, ok := r.header["X-Herald-Signature"]; ok {
			t.Errorf("no HERALD_HOOK_SECRET, yet X-Herald-Signature %q", sig)
		}
	}
	var got []string
	eventually(t, "the topic vacated", func() bool {
		got = got[:0]
		for _, ev := range backend.events(0) {
			if ev["topic"] == "room.c" {
				got = append(got, strings.TrimSpace(fmt.Sprint(ev["name"], " ", strOr(ev["user"]))))
			}
		}
		return len(got) > 0 && got[len(got)-1] == "topic_vacated"
	})
	want := []string{"topic_occupied", "member_added u", "member_added v", "member_removed u", "member_removed v", "topic_vacated"}
	if len(got) != len(want) || got[0] != want[0] || !slices.Contains(got, "member_added u") || !slices.Contains(got, "member_added v") ||
		slices.Index(got, "member_added u") > slices.Index(got, "member_removed u") ||
		slices.Index(got, "member_added v") > slices.Index(got, "member_removed v") {
		t.Errorf("events of room.c: %q, want %q (the members' in either order)", got, want)
	}

	// A node dies: its connection's end is reported (1006) and its topic vacated.
	k := wsOpen(t, a.ws+"?mode=ok&user=k", dialOpts{})
	k.cmd("s", `{"type":"subscribe","id":"s","topic":"open.k"}`)
	eventually(t, "open.k occupied", func() bool {
		return slices.ContainsFunc(backend.events(0), func(ev map[string]any) bool { return ev["topic"] == "open.k" })
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var disconnected, vacated int
	eventually(t, "the dead node's connection and topic reported", func() bool {
		disconnected, vacated = 0, 0
		for _, ev := range backend.events(0) {
			if ev["name"] == "client_disconnected" && ev["session"] == k.session {
				disconnected++
				if ev["code"] != 1006.0 || ev["user"] != "k" {
					t.Errorf("the dead node's connection: %v, want code 1006, user k", ev)
				}
			}
			if ev["name"] == "topic_vacated" && ev["topic"] == "open.k" {
				vacated++
			}
		}
		return disconnected > 0 && vacated > 0
	})
	if disconnected != 1 || vacated != 1 {
		t.Errorf("%d client_disconnected and %d topic_vacated for the dead node's connection", disconnected, vacated)
	}
}
