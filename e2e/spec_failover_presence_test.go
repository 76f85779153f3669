package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"
)

// presenceThroughAnOutage: while topic's master is cut off from its
// replica, dan joins and eve leaves (the watcher is sent both, and the
// failover loses both from Redis); then the master dies and, while no
// replica has taken over, ada unsubscribes, bob closes and carl
// subscribes. Once a replica has taken over, the watcher has been sent
// each user's join and leave alternately, never the same twice in a row,
// ending on what is true, and both nodes answer the same members
// (section 8; section 12 of docs/protocol.md on what a node does after a
// failover lost presence writes).
func presenceThroughAnOutage(t *testing.T, a, b *process, topic string, o outage) {
	watcher := wsOpen(t, b.ws+"?mode=ok&user=w3", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	users := map[string]*client{}
	last := map[string]string{} // the last event of each user the watcher was sent
	join := func(n *process, user string) {
		users[user] = wsOpen(t, n.ws+"?mode=ok&user="+user, dialOpts{})
		users[user].subscribe("s", topic)
		mustEvent(t, watcher, "join", user, topic)
		last[user] = "join"
	}
	join(a, "ada")
	join(b, "bob")
	join(b, "eve")

	o.cut()
	join(a, "dan")
	users["eve"].cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	mustEvent(t, watcher, "leave", "eve", topic)
	last["eve"] = "leave"
	o.kill()
	if m := users["ada"].cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic); m["type"] != "unsubscribed" {
		t.Errorf("ada's unsubscribe without a master: %v", m)
	}
	users["bob"].clientClose()
	carl := wsOpen(t, a.ws+"?mode=ok&user=carl", dialOpts{})
	carl.send(`{"type":"subscribe","id":"s","topic":%q}`, topic)
	first := carl.reply("s")
	t.Logf("carl's subscribe without a master: %s", first.text)
	o.end()
	if first.Type != "subscribed" {
		eventually(t, "carl's subscribe after the takeover", func() bool {
			return carl.cmd("s", `{"type":"subscribe","id":"s","topic":%q}`, topic)["type"] == "subscribed"
		})
	}

	want := map[string]string{"ada": "leave", "bob": "leave", "carl": "join", "dan": "join", "eve": "leave"}
	answer := fmt.Sprintf(`{"topic":%q,"users":3,"sessions":3,"members":[`+
		`{"user":"carl","sessions":1,"info":{"name":"carl"}},{"user":"dan","sessions":1,"info":{"name":"dan"}},`+
		`{"user":"w3","sessions":1,"info":{"name":"w3"}}]}`, topic)
	deadline := time.Now().Add(30 * time.Second)
	for !maps.Equal(last, want) {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher's last event of each user: %v, want %v", last, want)
		}
		select {
		case f := <-watcher.frames:
			switch {
			case f.Type == "message":
			case f.Type != "join" && f.Type != "leave", f.Topic != topic:
				t.Fatalf("watcher: %s", f.text)
			case last[f.User] == f.Type:
				t.Fatalf("watcher: a second %s of %s in a row", f.Type, f.User)
			default:
				last[f.User] = f.Type
			}
		case <-time.After(time.Second):
		}
	}
	// A node whose heartbeat the failover lost comes back under a new
	// name, and what Redis kept under the old one goes when that lapses
	// (15 s, docs/protocol.md section 12): up to about 20 s.
	for _, n := range []*process{a, b} {
		var g []byte
		for deadline := time.Now().Add(30 * time.Second); !jsonSame(g, answer); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("presence on %s after the takeover: %s, want %s", n.base, g, answer)
			}
			_, m := getPresence(t, &n.node, topic)
			g, _ = json.Marshal(m)
		}
	}
	watcher.quiet("after the events")
}

// jsonSame reports whether got and want hold the same JSON value.
func jsonSame(got []byte, want string) bool {
	var g, w any
	return json.Unmarshal(got, &g) == nil && json.Unmarshal([]byte(want), &w) == nil && reflect.DeepEqual(g, w)
}
