package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tests of section 9 (server-side control) of the wire protocol, against
// two herald processes sharing a real Redis, started as section 8's are
// (startPresencePair, spec_presence_test.go).

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestSpecControl(t *testing.T) {
	t.Parallel()
	a, b := startPresencePair(t)
	controlSpec(t, a, b)

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
}

// controlSpec is section 9 on nodes a and b, started with presenceEnv on
// one Redis, in any of its modes (spec_modes_contract_test.go).
func controlSpec(t *testing.T, a, b *process) {
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
