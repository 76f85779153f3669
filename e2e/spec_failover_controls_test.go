package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// controlsRightAfterATakeover: users present on topic on both nodes when
// takeover kills the master that matters and waits for its replica to
// take over. Right after, controls sent to either node act on the other
// (section 9), presence answers the same from both and its joins and
// leaves go on (section 8).
func controlsRightAfterATakeover(t *testing.T, a, b *process, topic string, takeover func()) {
	watcher := wsOpen(t, b.ws+"?mode=ok&user=w", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.subscribe("s", topic)
	mustEvent(t, watcher, "join", "ada", topic)
	bob := wsOpen(t, b.ws+"?mode=ok&user=bob", dialOpts{})
	bob.subscribe("s", topic)
	mustEvent(t, watcher, "join", "bob", topic)

	takeover()
	tookOver := time.Now()
	controlOnce(t, b, "/api/subscribe", `{"user":"ada","topic":"room.n"}`)
	if f := ada.next(); f.Type != "subscribed" || f.Topic != "room.n" || !f.Server {
		t.Fatalf("ada after a backend's subscribe: %s", f.text)
	}
	t.Logf("a subscribe sent to b reached ada on a %v after the takeover", time.Since(tookOver).Round(time.Millisecond))

	sent := time.Now()
	controlOnce(t, a, "/api/unsubscribe", fmt.Sprintf(`{"user":"bob","topic":%q}`, topic))
	jsonEq(t, "bob after a backend's unsubscribe", bob.nextObj(), fmt.Sprintf(`{"type":"unsubscribed","topic":%q,"reason":"server"}`, topic))
	t.Logf("an unsubscribe sent to a reached bob on b in %v", time.Since(sent).Round(time.Millisecond))
	mustEvent(t, watcher, "leave", "bob", topic)

	sent = time.Now()
	controlOnce(t, b, "/api/disconnect", `{"user":"ada"}`)
	if code := ada.answeredClose(); code != 4004 {
		t.Fatalf("ada after a backend's disconnect: close %d, want 4004", code)
	}
	t.Logf("a disconnect sent to b closed ada on a in %v", time.Since(sent).Round(time.Millisecond))
	mustEvent(t, watcher, "leave", "ada", topic)

	carl := wsOpen(t, a.ws+"?mode=ok&user=carl", dialOpts{})
	carl.subscribe("s", topic)
	mustEvent(t, watcher, "join", "carl", topic)
	want := fmt.Sprintf(`{"topic":%q,"users":2,"sessions":2,"members":[{"user":"carl","sessions":1,"info":{"name":"carl"}},{"user":"w","sessions":1,"info":{"name":"w"}}]}`, topic)
	for _, n := range []*process{a, b} {
		_, m := getPresence(t, &n.node, topic)
		jsonEq(t, "presence on "+n.base+" after the takeover", m, want)
	}
	watcher.quiet("after carl's join")
}

// controlOnce sends a control until it is answered 200 {}; a 503 right
// after a takeover, before the node knows the new master, is tried again.
func controlOnce(t *testing.T, n *process, path, body string) {
	t.Helper()
	eventually(t, path+" answered", func() bool {
		code, reply := rawPost(t, &n.node, path, body)
		if code == http.StatusServiceUnavailable {
			t.Logf("%s right after the takeover: %d %s", path, code, reply)
			return false
		}
		if code != http.StatusOK || reply != "{}" {
			t.Fatalf("%s %s: %d %s, want 200 {}", path, body, code, reply)
		}
		return true
	})
}

// mustEvent reads c's next frame, skipping messages, and fails unless it
// is a join or leave (typ) of user on topic.
func mustEvent(t *testing.T, c *client, typ, user, topic string) {
	t.Helper()
	f := c.next()
	for f.Type == "message" {
		f = c.next()
	}
	if f.Type != typ || f.User != user || f.Topic != topic {
		t.Fatalf("got %s, want a %s of %s on %s", f.text, typ, user, topic)
	}
}

// deadNode: a third node with a member on topic is SIGKILLed; within
// 30 s its member is gone from every answer and its leave was sent
// (section 8), on Cluster too, where the nodes' registry and the topic's
// presence are on different masters. (Done while a master fails over,
// the nodes whose heartbeats failed meanwhile wait 15 s after it before
// they clean up after others, docs/protocol.md section 12: 26 s here
// with a 4 s takeover, too close to the 30 s to test.) The node killed
// has a short presence lapse (dyingNodeLapse).
func deadNode(t *testing.T, env []string, a, b *process, topic string) {
	c := startProcess(t, "c", append(slices.Clip(env), dyingNodeLapse)...)
	watcher := wsOpen(t, b.ws+"?mode=ok&user=w2", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	for _, user := range []string{"eve", "dave"} {
		n := a
		if user == "dave" {
			n = c
		}
		wsOpen(t, n.ws+"?mode=ok&user="+user, dialOpts{}).subscribe("s", topic)
		mustEvent(t, watcher, "join", user, topic)
	}

	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-watcher.frames:
		jsonEq(t, "after the kill", f.obj(), fmt.Sprintf(`{"type":"leave","topic":%q,"user":"dave"}`, topic))
		t.Logf("leave %v after the kill", time.Since(killed).Round(time.Millisecond))
	case <-time.After(30*time.Second - time.Since(killed)):
		t.Fatal("no leave within 30 s of the node's death")
	}
	want := fmt.Sprintf(`{"topic":%q,"users":2,"sessions":2,"members":[{"user":"eve","sessions":1,"info":{"name":"eve"}},{"user":"w2","sessions":1,"info":{"name":"w2"}}]}`, topic)
	for _, n := range []*process{a, b} {
		_, m := getPresence(t, &n.node, topic)
		jsonEq(t, "presence on "+n.base+" after the node's death", m, want)
	}
}
