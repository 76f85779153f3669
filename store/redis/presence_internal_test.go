package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

func TestParseChange(t *testing.T) {
	c, link, err := parseChange("\nj6:room.13:u\n13:s-111:{\"a\":\"b:c\"}7:0-0 5-1")
	want := broker.PresenceChange{Topic: "room.1", User: "u\n1", Session: "s-1", Join: true}
	if err != nil || c.Topic != want.Topic || c.User != want.User || c.Session != want.Session || !c.Join || string(c.Info) != `{"a":"b:c"}` {
		t.Errorf("parseChange = %+v, %v; want %+v with info", c, err, want)
	}
	if link != (changeLink{prev: "0-0", id: "5-1"}) {
		t.Errorf("parseChange's link = %+v, want 0-0 before 5-1", link)
	}
	c, _, err = parseChange("\nl1:t1:u1:s0:9:12-0 13-4")
	if err != nil || c.Join || c.Info != nil || c.User != "u" {
		t.Errorf("parseChange of a leave = %+v, %v", c, err)
	}
	// As the releases before the change log publish it: no link.
	c, link, err = parseChange("\nl1:t1:u2:s10:")
	if err != nil || c.Join || c.Session != "s1" || link != (changeLink{}) {
		t.Errorf("parseChange of a change without a link = %+v, %+v, %v", c, link, err)
	}
	for _, bad := range []string{"", "\n", "\nx1:t1:u1:s0:7:0-0 1-0", "\nj1:t1:u1:s", "\nj1:t1:u1:s0:x", "\nj1:t1:u1:s0:7:0-0 1-0x",
		"\nj1:t1:u1:s0:3:0-0", "\nj1:t1:u1:s0:7:0-0 1-x", "\nj1:t1:u1:s0:7:0-01-0", "\nj9:t", "\nj-1:t", "\njx:t"} {
		if _, _, err := parseChange(bad); err == nil {
			t.Errorf("parseChange(%q) = nil error", bad)
		}
	}
	// A message payload starts with its topic, which is never empty.
	if isChange("room.1\nepoch\n1\nid\n0\n{}") || !isChange("\nj1:t1:u1:s0:7:0-0 1-0") {
		t.Error("isChange mistakes a message for a change or back")
	}
}

// A change log entry keeps the change without its link, and the ID
// before it in p.
func TestParseLogEntry(t *testing.T) {
	lc, err := parseLogEntry("t", "7-2", map[string]any{"p": "7-1", "c": "\nj1:t1:u1:s2:{}"})
	if err != nil || lc.link != (changeLink{prev: "7-1", id: "7-2"}) || !lc.change.Join || string(lc.change.Info) != "{}" {
		t.Errorf("parseLogEntry = %+v, %v", lc, err)
	}
	for _, bad := range []map[string]any{
		{"p": "7-1"}, {"c": "\nj1:t1:u1:s0:"}, {"p": "x", "c": "\nj1:t1:u1:s0:"},
		{"p": "7-1", "c": "\nj1:u1:u1:s0:"}, // another topic's
		{"p": "7-1", "c": "\nj1:t1:u1:s0:7:0-0 1-0"},
	} {
		if _, err := parseLogEntry("t", "7-2", bad); err == nil {
			t.Errorf("parseLogEntry(%v) = nil error", bad)
		}
	}
}

func TestParsePresenceRead(t *testing.T) {
	st, names, err := parsePresenceNames([]any{int64(3), int64(2), []any{"b", "c"}})
	if err != nil || st.Sessions != 3 || st.Users != 2 || !slices.Equal(names, []string{"b", "c"}) {
		t.Fatalf("parsePresenceNames = %+v, %v, %v", st, names, err)
	}
	for _, bad := range []any{nil, []any{int64(1)}, []any{int64(1), []any{"a"}}, []any{int64(1), int64(1), []any{int64(2)}}} {
		if _, _, err := parsePresenceNames(bad); err == nil {
			t.Errorf("parsePresenceNames(%v) = nil error", bad)
		}
	}
	m, err := parseMember("a", "2\n{\"n\":\"x\ny\"}")
	if err != nil || m.User != "a" || m.Sessions != 2 || string(m.Info) != "{\"n\":\"x\ny\"}" {
		t.Errorf("parseMember = %+v, %v", m, err)
	}
	if m, err := parseMember("b", "1\n"); err != nil || m.Info != nil {
		t.Errorf("parseMember without info = %+v, %v", m, err)
	}
	for _, bad := range []any{"x\n", "1", int64(1)} {
		if _, err := parseMember("a", bad); err == nil {
			t.Errorf("parseMember(%v) = nil error", bad)
		}
	}
}

func TestStreamIDOrder(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		after bool
	}{
		{"2-0", "1-5", true},
		{"10-0", "9-0", true},
		{"5-10", "5-9", true},
		{"5-1", "5-1", false},
		{"4-9", "5-0", false},
	} {
		if got := idAfter(tc.a, tc.b); got != tc.after {
			t.Errorf("idAfter(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.after)
		}
	}
	if idTime("1733443200123-4") != 1733443200123 {
		t.Error("idTime reads the wrong part")
	}
}

// The heartbeats count as having gone through for a lapse from the first
// of a row as it was sent, so that the round a lapse after the first one
// at start cleans up; a failure starts the count again.
func TestHealthLastsFromTheFirstHeartbeatSent(t *testing.T) {
	const lapse = 15 * time.Second
	start := time.Unix(1000, 0)
	var h health
	if h.lasted(start, lapse) {
		t.Fatal("lasted before any heartbeat")
	}
	h.beat(start, true)
	h.beat(start.Add(lapse/3), true) // a later one keeps the start of the row
	if h.lasted(start.Add(lapse-time.Millisecond), lapse) || !h.lasted(start.Add(lapse), lapse) {
		t.Fatal("not lasted exactly a lapse after the first heartbeat sent")
	}
	h.beat(start.Add(lapse), false)
	if h.lasted(start.Add(2*lapse), lapse) {
		t.Fatal("lasted across a failed heartbeat")
	}
	h.beat(start.Add(2*lapse), true)
	if h.lasted(start.Add(3*lapse-time.Millisecond), lapse) || !h.lasted(start.Add(3*lapse), lapse) {
		t.Fatal("the count did not start again after the failure")
	}
}
