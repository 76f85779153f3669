package e2e

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The check of spec_modes_contract_test.go on a node that shuts down.

// shutdownOfANode: a gets SIGTERM. Its WebSocket clients are closed with
// 1001 and its /sse streams end with close 1001 (sections 6, 10); its
// users leave the topic, but one with a tab on b stays (section 8); the
// backend is told of each connection with code 1001 (section 11); and a
// client reconnecting to b resumes where it left (section 4). a is not
// used after.
func shutdownOfANode(t *testing.T, backend *hookBackend, a, b *process, spread func(string) []string) {
	topic := spread("room.t")[0]
	// After the failover before, each node takes subscribes again. (The
	// client is anonymous, so that neither joins nor leaves.)
	anonymous := specToken(t, jwt.MapClaims{"allow": map[string][]string{"subscribe": {">"}}})
	for _, n := range []*process{a, b} {
		c := wsOpen(t, n.ws+"?token="+anonymous, dialOpts{})
		eventually(t, n.base+" taking subscribes after the failover", func() bool {
			r := c.cmd("s", `{"type":"subscribe","id":"s","topic":%q}`, topic)
			if r["type"] == "error" && r["code"] != "unavailable" {
				t.Fatalf("subscribe on %s: %v", n.base, r)
			}
			return r["type"] == "subscribed"
		})
		c.clientClose()
	}
	watcher := wsOpen(t, b.ws+"?token="+personToken(t, "tw", nil), dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":%q,"presence":true}`, topic)
	leaver := wsOpen(t, a.ws+"?token="+personToken(t, "tl", nil), dialOpts{})
	leaver.subscribe("s", topic)
	mustEvent(t, watcher, "join", "tl", topic)
	tabs := []*client{wsOpen(t, a.ws+"?token="+personToken(t, "tb", nil), dialOpts{}), wsOpen(t, b.ws+"?token="+personToken(t, "tb", nil), dialOpts{})}
	for _, c := range tabs {
		c.subscribe("s", topic)
	}
	mustEvent(t, watcher, "join", "tb", topic)
	stream := openStream(t, a.base+"/sse?token="+personToken(t, "ts", nil)+"&topic="+topic, nil)
	mustEvent(t, watcher, "join", "ts", topic)
	publish(t, &b.node, topic, `1`)
	last := leaver.next()
	if last.Type != "message" || stream.next().dataObj()["seq"] != float64(last.Seq) {
		t.Fatalf("before the shutdown: %s", last.text)
	}

	termed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for what, c := range map[string]*client{"tl": leaver, "tb's tab on a": tabs[0]} {
		if code := c.closeCode(); code != 1001 {
			t.Errorf("%s at a's shutdown: close %d, want 1001", what, code)
		}
		c.conn.Close() // as a browser would, rather than leave a to wait for its close frame
	}
	if ev := stream.untilEnd(); ev.event != "close" || ev.data != `{"code":1001}` {
		t.Errorf("the /sse stream's last event at a's shutdown: %+v, want close 1001", ev)
	}
	left := map[string]bool{}
	for len(left) < 2 {
		f := watcher.next()
		if f.Type == "message" {
			continue
		}
		if f.Type != "leave" || f.Topic != topic || (f.User != "tl" && f.User != "ts") {
			t.Fatalf("the watcher at a's shutdown: %s, want the leaves of tl and ts", f.text)
		}
		left[f.User] = true
	}
	t.Logf("leaves %v after SIGTERM", time.Since(termed))
	eventually(t, "presence without a's sessions", func() bool {
		_, m := getPresence(t, &b.node, topic)
		return string(mustJSON(m["members"])) == `[{"sessions":1,"user":"tb"},{"sessions":1,"user":"tw"}]`
	})

	publish(t, &b.node, topic, `2`)
	again := wsOpen(t, b.ws+"?token="+personToken(t, "tl", nil), dialOpts{})
	again.send(`{"type":"subscribe","id":"r","topic":%q,"since":{"epoch":%q,"seq":%d}}`, topic, last.Epoch, last.Seq)
	if r := again.next(); r.Type != "subscribed" || r.Recovered == nil || !*r.Recovered {
		t.Errorf("tl resuming on b: %s, want recovered:true", r.text)
	}
	if f := again.next(); f.Type != "message" || f.Seq != last.Seq+1 {
		t.Errorf("tl after resuming on b: %s, want seq %d", f.text, last.Seq+1)
	}

	eventually(t, "a's connections reported to the backend", func() bool {
		var codes []string
		for _, ev := range backend.events(0) {
			if ev["name"] == "client_disconnected" && slices.Contains([]string{leaver.session, tabs[0].session}, fmt.Sprint(ev["session"])) {
				codes = append(codes, fmt.Sprint(ev["code"]))
			}
		}
		if len(codes) > 2 || slices.ContainsFunc(codes, func(c string) bool { return c != "1001" }) {
			t.Fatalf("client_disconnected of a's connections: codes %v, want 1001 once each", codes)
		}
		return len(codes) == 2
	})
	if f := watcher.next(); f.Type != "message" || f.Seq != last.Seq+1 {
		t.Errorf("the watcher after the leaves: %s, want seq %d", f.text, last.Seq+1)
	}
	t.Logf("reported %v after SIGTERM", time.Since(termed))
	mustEvent(t, watcher, "join", "tl", topic) // back, on b
	watcher.quiet("after the leaves of a's users")
}
