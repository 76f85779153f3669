package e2e

import (
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

// Tests of section 8 (presence) of the wire protocol, against two herald
// processes sharing a real Redis; section 9's (server-side control) are
// spec_control_test.go, on a pair started as here (startPresencePair).

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
	env := append(presenceEnv(redistest.Start(t).URL()), extra...)
	return startProcess(t, "a", env...), startProcess(t, "b", env...)
}

// presenceEnv is the settings of the nodes sections 8 and 9 are tested
// on: client tokens signed with specSecret, presence on room.* and lobby,
// and redisURL ("" for one node alone, in memory).
func presenceEnv(redisURL string) []string {
	env := []string{"HERALD_PRESENCE_TOPICS=room.*, lobby", "HERALD_JWT_SECRET=" + specSecret}
	if redisURL != "" {
		env = append(env, "HERALD_REDIS_URL="+redisURL)
	}
	return env
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
	presenceSpec(t, a, b)
}

// presenceSpec is section 8 on nodes a and b, started with presenceEnv on
// one Redis, in any of its modes (spec_modes_contract_test.go).
func presenceSpec(t *testing.T, a, b *process) {
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
