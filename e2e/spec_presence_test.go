package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/internal/redistest"
)

// Tests of sections 8 (presence) and 9 (server-side control) of the wire
// protocol, against two herald processes sharing a real Redis.

// personToken is a token of user, allowed to subscribe to room.* and
// chat.*; info is left out when nil.
func personToken(t testing.TB, user string, info any) string {
	claims := jwt.MapClaims{"sub": user, "allow": map[string][]string{"subscribe": {"room.*", "chat.*"}, "publish": {"room.*"}}}
	if info != nil {
		claims["info"] = info
	}
	return specToken(t, claims)
}

func startPresencePair(t *testing.T, extra ...string) (a, b *process) {
	redis := redistest.Start(t)
	env := append([]string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_PRESENCE_TOPICS=room.*, lobby", "HERALD_JWT_SECRET=" + specSecret}, extra...)
	return startProcess(t, "a", env...), startProcess(t, "b", env...)
}

// getPresence is GET /api/presence, decoded.
func getPresence(t testing.TB, n *node, topic string) (int, map[string]any) {
	t.Helper()
	code, _, body := httpDo(t, http.MethodGet, n.base+"/api/presence?topic="+topic, nil, "")
	return code, jsonObject(body)
}

// rawPost posts body and returns the status and the body as sent.
func rawPost(t testing.TB, n *node, path, body string) (int, string) {
	t.Helper()
	code, _, b := httpDo(t, http.MethodPost, n.base+path, http.Header{"Content-Type": {"application/json"}}, body)
	return code, strings.TrimSpace(string(b))
}

func TestSpecPresence(t *testing.T) {
	t.Parallel()
	a, b := startPresencePair(t)

	t.Run("joins, leaves and the presence answer", func(t *testing.T) {
		watcher := wsOpen(t, b.ws+"?token="+personToken(t, "w", nil), dialOpts{})
		if r := watcher.cmd("w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
			t.Fatalf("watcher: %v", r)
		}
		// Ada opens two tabs at once, one on each node: one join.
		ada := []*client{
			wsOpen(t, a.ws+"?token="+personToken(t, "ada", map[string]any{"name": "Ada"}), dialOpts{}),
			wsOpen(t, b.ws+"?token="+personToken(t, "ada", map[string]any{"name": "Ada"}), dialOpts{}),
		}
		var wg sync.WaitGroup
		for _, c := range ada {
			wg.Add(1)
			go func() { defer wg.Done(); c.send(`{"type":"subscribe","id":"s","topic":"room.1","presence":true}`) }()
		}
		wg.Wait()
		for i, c := range ada {
			if r := c.reply("s").obj(); r["type"] != "subscribed" {
				t.Fatalf("ada's tab %d: %v", i, r)
			}
		}
		join := watcher.nextObj()
		jsonEq(t, "ada's join", join, `{"type":"join","topic":"room.1","user":"ada","info":{"name":"Ada"}}`)

		// Anonymous (a token without sub), and a pattern subscriber: no event.
		anon := wsOpen(t, a.ws+"?token="+specToken(t, jwt.MapClaims{"allow": map[string][]string{"subscribe": {"room.*"}}}), dialOpts{})
		if r := anon.cmd("s", `{"type":"subscribe","id":"s","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
			t.Fatalf("anonymous: %v", r)
		}
		wild := wsOpen(t, a.ws+"?token="+personToken(t, "pat", nil), dialOpts{})
		if r := wild.cmd("s", `{"type":"subscribe","id":"s","topic":"room.*"}`); r["type"] != "subscribed" {
			t.Fatalf("pattern: %v", r)
		}
		// Bob (no info) joins: his join is the next event everybody gets.
		bob := wsOpen(t, a.ws+"?token="+personToken(t, "bob", nil), dialOpts{})
		if r := bob.cmd("s", `{"type":"subscribe","id":"s","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
			t.Fatalf("bob: %v", r)
		}
		for name, c := range map[string]*client{"watcher": watcher, "ada a": ada[0], "ada b": ada[1], "anonymous": anon} {
			m := c.nextObj()
			if m["user"] == "ada" && name != "watcher" && name != "anonymous" {
				m = c.nextObj() // ada's join may reach the tab that did not cause it
			}
			jsonEq(t, name+" sees bob's join next", m, `{"type":"join","topic":"room.1","user":"bob"}`)
		}

		want := `{"topic":"room.1","users":3,"sessions":5,"members":[{"user":"ada","sessions":2,"info":{"name":"Ada"}},{"user":"bob","sessions":1},{"user":"w","sessions":1}]}`
		r := watcher.cmd("p", `{"type":"presence","id":"p","topic":"room.1"}`)
		if r["type"] != "presence" || r["id"] != "p" {
			t.Errorf("presence reply %v", r)
		}
		delete(r, "type")
		delete(r, "id")
		jsonEq(t, "presence command", r, want)
		for _, n := range []*node{&a.node, &b.node} {
			code, m := getPresence(t, n, "room.1")
			if code != 200 {
				t.Errorf("GET /api/presence on %s: %d", n.base, code)
			}
			jsonEq(t, "GET /api/presence on "+n.base, m, want)
		}

		// Ada's first tab goes: nothing; her last: a leave. Then she comes back: a join.
		ada[0].clientClose()
		ada[1].send(`{"type":"unsubscribe","id":"u","topic":"room.1"}`)
		leave := watcher.nextObj()
		jsonEq(t, "ada's leave", leave, `{"type":"leave","topic":"room.1","user":"ada"}`)
		jsonEq(t, "bob sees ada's leave", bob.nextObj(), `{"type":"leave","topic":"room.1","user":"ada"}`)
		ada[1].send(`{"type":"subscribe","id":"again","topic":"room.1"}`)
		jsonEq(t, "ada's second join", watcher.nextObj(), `{"type":"join","topic":"room.1","user":"ada","info":{"name":"Ada"}}`)
		anon.clientClose()
		wild.clientClose()
		bob.clientClose()
		jsonEq(t, "the next event after anonymous and pattern left", watcher.nextObj(), `{"type":"leave","topic":"room.1","user":"bob"}`)
		ada[1].clientClose()
		jsonEq(t, "ada's last leave", watcher.nextObj(), `{"type":"leave","topic":"room.1","user":"ada"}`)
		watcher.quiet("the watcher after every other user left")

		code, m := getPresence(t, &a.node, "room.1")
		if code != 200 {
			t.Fatalf("presence: %d", code)
		}
		jsonEq(t, "presence with only the watcher", m, `{"topic":"room.1","users":1,"sessions":1,"members":[{"user":"w","sessions":1}]}`)
		watcher.clientClose()
		eventually(t, "an empty topic", func() bool {
			_, m := getPresence(t, &a.node, "room.1")
			return fmt.Sprint(m["members"]) == "[]" && m["users"] == 0.0
		})
		_, m = getPresence(t, &b.node, "room.1")
		if string(mustJSON(m["members"])) != "[]" {
			t.Errorf("no members is %s, want []", mustJSON(m["members"]))
		}
	})

	t.Run("joins and leaves alternate while one user flips on two nodes", func(t *testing.T) {
		watcher := wsOpen(t, b.ws+"?token="+personToken(t, "w2", nil), dialOpts{})
		watcher.cmd("w", `{"type":"subscribe","id":"w","topic":"room.flip","presence":true}`)
		flip(t, []*client{wsOpen(t, a.ws+"?token="+personToken(t, "flip", nil), dialOpts{}),
			wsOpen(t, b.ws+"?token="+personToken(t, "flip", nil), dialOpts{})}, "room.flip", 30)
		// One topic's joins and leaves reach every node in one order: the
		// marker's join comes after every flip.
		marker := wsOpen(t, a.ws+"?token="+personToken(t, "marker", nil), dialOpts{})
		marker.cmd("s", `{"type":"subscribe","id":"s","topic":"room.flip"}`)
		seq := typesUntil(watcher, "marker")
		mustAlternate(t, "event", seq)
		if len(seq)%2 != 0 {
			t.Errorf("flip, now gone, ended with a join: %v", seq)
		}
		t.Logf("%d joins and leaves of flip", len(seq))
		_, m := getPresence(t, &a.node, "room.flip")
		jsonEq(t, "presence after the flips", m["members"], `[{"user":"marker","sessions":1},{"user":"w2","sessions":1}]`)
	})

	t.Run("errors", func(t *testing.T) {
		c := wsOpen(t, a.ws+"?token="+personToken(t, "eve", nil), dialOpts{})
		for _, tc := range []struct{ cmd, code string }{
			{`{"type":"presence","id":"1","topic":"room.*"}`, "invalid_topic"},
			{`{"type":"presence","id":"1","topic":"room.>"}`, "invalid_topic"},
			{`{"type":"presence","id":"1","topic":"chat.x"}`, "presence_off"},
			{`{"type":"presence","id":"1","topic":"lobby"}`, "forbidden"}, // a presence topic the token may not subscribe to
			{`{"type":"subscribe","id":"1","topic":"room.*","presence":true}`, "presence_off"},
			{`{"type":"subscribe","id":"1","topic":"chat.x","presence":true}`, "presence_off"},
		} {
			r := c.cmd("1", "%s", tc.cmd)
			if r["type"] != "error" || r["code"] != tc.code {
				t.Errorf("%s: %v, want %s", tc.cmd, r, tc.code)
			}
		}
		// lobby, the list's second entry (after ", "), keeps presence.
		lobby := wsOpen(t, a.ws+"?token="+specToken(t, jwt.MapClaims{"sub": "l", "allow": map[string][]string{"subscribe": {"lobby"}}}), dialOpts{})
		if r := lobby.cmd("1", `{"type":"presence","id":"1","topic":"lobby"}`); r["type"] != "presence" {
			t.Errorf("presence of lobby: %v", r)
		}
		// Nothing was subscribed by the refused presence:true subscribes.
		for _, topic := range []string{"room.*", "chat.x"} {
			if r := c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic); r["code"] != "not_subscribed" {
				t.Errorf("unsubscribe %s after a refused presence:true: %v", topic, r)
			}
		}
		for _, tc := range []struct{ query, code string }{
			{"topic=chat.x", "presence_off"},
			{"topic=room.*", "invalid_topic"},
		} {
			status, _, body := httpDo(t, http.MethodGet, a.base+"/api/presence?"+tc.query, nil, "")
			if status != 400 || errorCode(body) != tc.code {
				t.Errorf("GET /api/presence?%s: %d %s, want 400 %s", tc.query, status, body, tc.code)
			}
		}
	})

	t.Run("info claim", func(t *testing.T) {
		// {"n":"xxx..."} of exactly 1024 bytes is allowed, 1025 is not.
		pad := func(total int) map[string]any { return map[string]any{"n": strings.Repeat("x", total-len(`{"n":""}`))} }
		if _, code := wsDial(t, a.ws+"?token="+personToken(t, "big", pad(1024)), dialOpts{}); code != 101 {
			t.Errorf("info of 1024 bytes: HTTP %d, want 101", code)
		}
		if _, code := wsDial(t, a.ws+"?token="+personToken(t, "big", pad(1025)), dialOpts{}); code != 401 {
			t.Errorf("info of 1025 bytes: HTTP %d, want 401", code)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestSpecControl(t *testing.T) {
	t.Parallel()
	a, b := startPresencePair(t)

	t.Run("replies", func(t *testing.T) {
		for _, tc := range []struct {
			path, body string
			code       int
			err        string
		}{
			{"/api/disconnect", `{"user":"nobody"}`, 200, ""},
			{"/api/disconnect", `{"session":"6f1c0b7e-6a57-4a4e-9d1e-000000000000"}`, 200, ""},
			{"/api/unsubscribe", `{"user":"nobody","topic":"room.1"}`, 200, ""},
			{"/api/subscribe", `{"user":"nobody","topic":"room.*"}`, 200, ""},
			{"/api/disconnect", `{}`, 400, "bad_request"},
			{"/api/disconnect", `{"user":"42","session":"6f1c0b7e-6a57-4a4e-9d1e-000000000000"}`, 400, "bad_request"},
			{"/api/subscribe", `{"topic":"room.1"}`, 400, "bad_request"},
			{"/api/subscribe", `{"user":"42","session":"x","topic":"room.1"}`, 400, "bad_request"},
			{"/api/unsubscribe", `{"topic":"room.1"}`, 400, "bad_request"},
			{"/api/unsubscribe", `{"user":"42","session":"x","topic":"room.1"}`, 400, "bad_request"},
			{"/api/subscribe", `{"user":"42","topic":"room..1"}`, 400, "invalid_topic"},
			{"/api/disconnect", `{"user":""}`, 400, "bad_request"},
			{"/api/disconnect", `{"user":42}`, 400, "bad_request"},
			{"/api/disconnect", `not json`, 400, "bad_request"},
			{"/api/disconnect", `{"user":"nobody","unknown":[1]}`, 200, ""}, // fields not defined are ignored
		} {
			code, body := rawPost(t, &a.node, tc.path, tc.body)
			if code != tc.code || (tc.err == "" && body != "{}") || (tc.err != "" && errorCode([]byte(body)) != tc.err) {
				t.Errorf("%s %s: %d %s, want %d %s", tc.path, tc.body, code, body, tc.code, map[bool]string{true: "{}", false: tc.err}[tc.err == ""])
			}
		}
	})

	t.Run("methods", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/api/disconnect"}, {http.MethodGet, "/api/subscribe"}, {http.MethodGet, "/api/unsubscribe"},
			{http.MethodPost, "/api/presence?topic=room.1"},
		} {
			if code, _, body := httpDo(t, tc.method, a.base+tc.path, nil, ""); code != 405 || errorCode(body) != "method_not_allowed" {
				t.Errorf("%s %s: %d %s, want 405 method_not_allowed", tc.method, tc.path, code, body)
			}
		}
	})

	t.Run("subscribe, unsubscribe and disconnect across nodes", func(t *testing.T) {
		tabs := []*client{
			wsOpen(t, a.ws+"?token="+personToken(t, "42", nil), dialOpts{}),
			wsOpen(t, b.ws+"?token="+personToken(t, "42", nil), dialOpts{}),
		}
		other := wsOpen(t, b.ws+"?token="+personToken(t, "43", nil), dialOpts{})
		publish(t, &a.node, "user:42.notices", `1`)
		publish(t, &a.node, "user:42.notices", `2`)
		// The token does not allow user:42.notices: the server's subscribe holds anyway.
		start := time.Now()
		code, body := rawPost(t, &a.node, "/api/subscribe", `{"user":"42","topic":"user:42.notices"}`)
		if code != 200 || body != "{}" {
			t.Fatalf("subscribe: %d %s", code, body)
		}
		var epoch any
		for i, c := range tabs {
			m := c.nextObj()
			epoch = m["epoch"]
			if keys(m) != "epoch,seq,server,topic,type" || m["type"] != "subscribed" || m["topic"] != "user:42.notices" || m["seq"] != 2.0 || m["server"] != true {
				t.Errorf("tab %d: %v, want subscribed with server, epoch and seq 2, no id", i, m)
			}
		}
		t.Logf("server subscribe reached both nodes in %v", time.Since(start))
		publish(t, &b.node, "user:42.notices", `3`)
		for i, c := range tabs {
			if m := c.nextObj(); m["type"] != "message" || m["seq"] != 3.0 || m["epoch"] != epoch {
				t.Errorf("tab %d after the server's subscribe: %v", i, m)
			}
		}
		// A pattern: subscribed without epoch and seq; unsubscribe names it as made.
		rawPost(t, &b.node, "/api/subscribe", `{"user":"42","topic":"news.*"}`)
		for i, c := range tabs {
			jsonEq(t, fmt.Sprintf("tab %d pattern", i), c.nextObj(), `{"type":"subscribed","topic":"news.*","server":true}`)
		}
		// Unsubscribing news.x ends nothing (no such subscription); news.* ends the pattern.
		rawPost(t, &b.node, "/api/unsubscribe", `{"user":"42","topic":"news.x"}`)
		code, body = rawPost(t, &b.node, "/api/unsubscribe", `{"user":"42","topic":"news.*"}`)
		if code != 200 || body != "{}" {
			t.Fatalf("unsubscribe: %d %s", code, body)
		}
		for i, c := range tabs {
			jsonEq(t, fmt.Sprintf("tab %d unsubscribed", i), c.nextObj(), `{"type":"unsubscribed","topic":"news.*","reason":"server"}`)
		}
		// Subscribe by session: only that connection.
		rawPost(t, &a.node, "/api/subscribe", fmt.Sprintf(`{"session":%q,"topic":"only.one"}`, tabs[1].session))
		if m := tabs[1].nextObj(); m["type"] != "subscribed" || m["topic"] != "only.one" || m["server"] != true {
			t.Errorf("tab 1 subscribed by session: %v", m)
		}
		// By session: only that connection.
		rawPost(t, &b.node, "/api/unsubscribe", fmt.Sprintf(`{"session":%q,"topic":"user:42.notices"}`, tabs[1].session))
		jsonEq(t, "tab 1 unsubscribed by session", tabs[1].nextObj(), `{"type":"unsubscribed","topic":"user:42.notices","reason":"server"}`)
		publish(t, &a.node, "user:42.notices", `4`)
		if m := tabs[0].nextObj(); m["seq"] != 4.0 {
			t.Errorf("tab 0 after tab 1's unsubscribe: %v", m)
		}
		tabs[1].quiet("tab 1 after its unsubscribe by session")

		// Disconnect by session, then by user on both nodes; user 43 stays.
		rawPost(t, &b.node, "/api/disconnect", fmt.Sprintf(`{"session":%q}`, tabs[0].session))
		if code := tabs[0].closeCode(); code != 4004 {
			t.Errorf("disconnected by session: close %d, want 4004", code)
		}
		third := wsOpen(t, a.ws+"?token="+personToken(t, "42", nil), dialOpts{})
		code, body = rawPost(t, &a.node, "/api/disconnect", `{"user":"42"}`)
		if code != 200 || body != "{}" {
			t.Fatalf("disconnect: %d %s", code, body)
		}
		for i, c := range []*client{tabs[1], third} {
			if code := c.closeCode(); code != 4004 {
				t.Errorf("user 42's connection %d: close %d, want 4004", i, code)
			}
		}
		if r := other.cmd("p", `{"type":"ping","id":"p"}`); r["type"] != "pong" {
			t.Errorf("user 43: %v", r)
		}
	})

	t.Run("API keys", func(t *testing.T) {
		n := startProcess(t, "keys", "HERALD_API_KEYS=k1", "HERALD_PRESENCE_TOPICS=room.*")
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/presence?topic=room.1", ""},
			{http.MethodPost, "/api/disconnect", `{"user":"42"}`},
			{http.MethodPost, "/api/unsubscribe", `{"user":"42","topic":"room.1"}`},
			{http.MethodPost, "/api/subscribe", `{"user":"42","topic":"room.1"}`},
		} {
			code, _, body := httpDo(t, tc.method, n.base+tc.path, http.Header{"Content-Type": {"application/json"}}, tc.body)
			if code != 401 || errorCode(body) != "unauthorized" {
				t.Errorf("%s %s without the key: %d %s, want 401 unauthorized", tc.method, tc.path, code, body)
			}
			code, _, body = httpDo(t, tc.method, n.base+tc.path, http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer k1"}}, tc.body)
			if code != 200 {
				t.Errorf("%s %s with the key: %d %s", tc.method, tc.path, code, body)
			}
		}
	})

	t.Run("subs claim", func(t *testing.T) {
		publish(t, &a.node, "subs.one", `1`)
		tok := specToken(t, jwt.MapClaims{"sub": "s", "subs": []string{"subs.one", "subs.*"}})
		c := wsOpen(t, b.ws+"?token="+tok, dialOpts{})
		m := c.nextObj()
		if keys(m) != "epoch,seq,server,topic,type" || m["type"] != "subscribed" || m["topic"] != "subs.one" || m["seq"] != 1.0 || m["server"] != true {
			t.Errorf("first after welcome: %v", m)
		}
		jsonEq(t, "second after welcome", c.nextObj(), `{"type":"subscribed","topic":"subs.*","server":true}`)
		publish(t, &a.node, "subs.one", `2`)
		if m := c.nextObj(); m["type"] != "message" || m["seq"] != 2.0 {
			t.Errorf("message on subs.one: %v", m)
		}
	})
}

// A node SIGKILLed: within 30 s its members are gone from every answer and
// their leaves were sent, and so were their member_removed webhooks. The
// bound of the engine is about 20 s (section 12); there is no setting to
// shorten it.
func TestSpecPresenceNodeDeath(t *testing.T) {
	t.Parallel()
	backend, url := startHookBackend(t, 0)
	a, b := startPresencePair(t, "HERALD_WEBHOOK_URL="+url+"/webhook", "HERALD_HOOK_TIMEOUT=300ms")
	watcher := wsOpen(t, b.ws+"?token="+personToken(t, "w", nil), dialOpts{})
	watcher.cmd("s", `{"type":"subscribe","id":"s","topic":"room.dead","presence":true}`)
	for _, user := range []string{"gone", "stays"} {
		c := wsOpen(t, a.ws+"?token="+personToken(t, user, nil), dialOpts{})
		c.cmd("s", `{"type":"subscribe","id":"s","topic":"room.dead"}`)
		jsonEq(t, user+"'s join", watcher.nextObj(), fmt.Sprintf(`{"type":"join","topic":"room.dead","user":%q}`, user))
	}
	stays := wsOpen(t, b.ws+"?token="+personToken(t, "stays", nil), dialOpts{})
	stays.cmd("s", `{"type":"subscribe","id":"s","topic":"room.dead"}`)

	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-watcher.frames:
		jsonEq(t, "after the kill", f.obj(), `{"type":"leave","topic":"room.dead","user":"gone"}`)
		t.Logf("leave %v after the kill", time.Since(killed).Round(time.Millisecond))
	case <-time.After(30*time.Second - time.Since(killed)):
		t.Fatal("no leave within 30 s of the node's death")
	}
	removed := func() bool {
		return slices.ContainsFunc(backend.events(0), func(ev map[string]any) bool {
			return ev["name"] == "member_removed" && ev["topic"] == "room.dead" && ev["user"] == "gone"
		})
	}
	for !removed() {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no member_removed within 30 s of the node's death")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, m := getPresence(t, &b.node, "room.dead")
	if code != 200 {
		t.Fatalf("presence: %d", code)
	}
	jsonEq(t, "presence after the kill", m, `{"topic":"room.dead","users":2,"sessions":2,"members":[{"user":"stays","sessions":1},{"user":"w","sessions":1}]}`)
	watcher.quiet("after gone's leave")
}
