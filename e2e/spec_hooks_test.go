package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tests of section 11 (backend hooks) of the wire protocol, against a
// herald process and a backend that records every hook request.

func TestSpecHooks(t *testing.T) {
	t.Parallel()
	const failures = 2
	backend, url := startHookBackend(t, failures)
	hooks := []string{"HERALD_CONNECT_URL=" + url + "/connect", "HERALD_SUBSCRIBE_URL=" + url + "/subscribe",
		"HERALD_HOOK_SECRET=" + hookSecret, "HERALD_HOOK_TIMEOUT=300ms", "HERALD_SUBSCRIBE_HOOK_TOPICS=hooked.>"}
	h := startProcess(t, "hooks", append(hooks, "HERALD_WEBHOOK_URL="+url+"/webhook",
		"HERALD_WEBHOOK_VACATED_DELAY=1s", "HERALD_PRESENCE_TOPICS=room.*,hooked.>")...)
	withJWT := startProcess(t, "hooks-jwt", append(hooks, "HERALD_JWT_SECRET="+specSecret)...)

	t.Run("connect hook request", func(t *testing.T) {
		c := wsOpen(t, h.ws+"?mode=ok&user=42&room=7&room=8", dialOpts{header: http.Header{
			"Cookie": {"a=1"}, "Origin": {"https://o.example"}, "User-Agent": {"ua-test"}, "X-Other": {"no"}}})
		reqs := backend.requests("/connect")
		r := reqs[len(reqs)-1]
		checkSigned(t, "connect", r)
		m := r.obj()
		if keys(m) != "headers,ip,query,session" || m["session"] != c.session || m["ip"] != "127.0.0.1" {
			t.Errorf("connect body %s (welcome's session %s)", r.body, c.session)
		}
		jsonEq(t, "connect headers", m["headers"], `{"Cookie":"a=1","Origin":"https://o.example","User-Agent":"ua-test"}`)
		jsonEq(t, "connect query", m["query"], `{"mode":"ok","user":"42","room":"7"}`)

		// No JWT key: a request with a token is asked about too.
		wsOpen(t, h.ws+"?mode=ok&user=t&token=abc", dialOpts{})
		reqs = backend.requests("/connect")
		if q := reqs[len(reqs)-1].obj()["query"].(map[string]any); q["token"] != "abc" || q["user"] != "t" {
			t.Errorf("with no JWT key a token's connection: query %v", q)
		}
	})

	t.Run("connect hook answers", func(t *testing.T) {
		for _, tc := range []struct {
			mode   string
			status int
			code   string
		}{
			{"err401", 401, "unauthorized"}, {"err403", 403, "forbidden"},
			{"s401", 401, "unauthorized"}, {"s403", 403, "forbidden"},
			{"s500", 503, "unavailable"}, {"notjson", 503, "unavailable"},
			{"slow", 503, "unavailable"}, {"bigInfo", 503, "unavailable"},
			// An answer already expired is refused as an expired token is.
			{"expired", 401, "unauthorized"},
		} {
			if _, status := wsDial(t, h.ws+"?mode="+tc.mode, dialOpts{}); status != tc.status {
				t.Errorf("/ws, backend %s: HTTP %d, want %d", tc.mode, status, tc.status)
			}
			s, resp, body := sseOpen(t, h.base+"/sse?topic=room.1&mode="+tc.mode, nil)
			if s != nil || resp.StatusCode != tc.status || errorCode(body) != tc.code {
				t.Errorf("/sse, backend %s: %d %s, want %d %s", tc.mode, resp.StatusCode, body, tc.status, tc.code)
			}
		}
		c := wsOpen(t, h.ws+"?mode=expire", dialOpts{})
		if code := c.closeCode(); code != 4001 {
			t.Errorf("expire_at passed: close %d, want 4001", code)
		}
	})

	t.Run("the connect hook's claims", func(t *testing.T) {
		c := wsOpen(t, h.ws+"?mode=ok&user=claims&subs=1", dialOpts{})
		if m := c.nextObj(); keys(m) != "epoch,seq,server,topic,type" || m["topic"] != "subs.x" || m["server"] != true {
			t.Errorf("after welcome: %v, want subs.x subscribed by the server", m)
		}
		if r := c.cmd("1", `{"type":"subscribe","id":"1","topic":"room.c"}`); r["type"] != "subscribed" {
			t.Errorf("a topic allow names: %v", r)
		}
		if r := c.cmd("2", `{"type":"subscribe","id":"2","topic":"news.c"}`); r["code"] != "forbidden" {
			t.Errorf("a topic allow does not name: %v", r)
		}
		if r := c.cmd("3", `{"type":"publish","id":"3","topic":"room.c","data":1}`); r["code"] != "forbidden" {
			t.Errorf("publish without allow.publish: %v", r)
		}
	})

	t.Run("a token is judged alone", func(t *testing.T) {
		before := len(backend.requests("/connect"))
		wsOpen(t, withJWT.ws+"?mode=ok&token="+specToken(t, map[string]any{"sub": "j"}), dialOpts{})
		if _, status := wsDial(t, withJWT.ws+"?mode=ok&token=bad", dialOpts{}); status != 401 {
			t.Errorf("a bad token: HTTP %d, want 401", status)
		}
		if n := len(backend.requests("/connect")); n != before {
			t.Errorf("requests with a token asked the connect hook %d times", n-before)
		}
		wsOpen(t, withJWT.ws+"?mode=ok&user=nt", dialOpts{})
		if n := len(backend.requests("/connect")); n != before+1 {
			t.Errorf("a request without a token asked the connect hook %d times, want 1", n-before)
		}
	})

	t.Run("subscribe hook", func(t *testing.T) {
		c := wsOpen(t, h.ws+"?mode=ok&user=42", dialOpts{})
		if r := c.cmd("p", `{"type":"presence","id":"p","topic":"hooked.ok.p"}`); r["code"] != "forbidden" {
			t.Errorf("presence of a hooked topic before subscribing: %v, want forbidden", r)
		}
		before := len(backend.requests("/subscribe"))
		for _, tc := range []struct{ topic, want string }{
			{"hooked.ok.p", "subscribed"}, // not in allow: the hook's yes replaces it
			{"hooked.err", "forbidden"},
			{"hooked.errstr", "forbidden"},
			{"hooked.403", "forbidden"},
			{"hooked.500", "unavailable"},
			{"hooked.slow", "unavailable"},
			{"open.x", "subscribed"},      // not hooked: allow holds, nobody asked
			{"other.x", "forbidden"},      // not hooked, not allowed
			{"hooked.ok.p", "subscribed"}, // again: nobody asked
		} {
			r := c.cmd("s", `{"type":"subscribe","id":"s","topic":%q}`, tc.topic)
			if got := map[bool]any{true: r["type"], false: r["code"]}[r["type"] == "subscribed"]; got != tc.want {
				t.Errorf("subscribe %s: %v, want %s", tc.topic, r, tc.want)
			}
		}
		reqs := backend.requests("/subscribe")[before:]
		var topics []string
		for _, r := range reqs {
			topics = append(topics, r.obj()["topic"].(string))
		}
		if strings.Join(topics, " ") != "hooked.ok.p hooked.err hooked.errstr hooked.403 hooked.500 hooked.slow" {
			t.Errorf("the subscribe hook was asked about %v", topics)
		}
		if len(reqs) > 0 {
			checkSigned(t, "subscribe", reqs[0])
			jsonEq(t, "subscribe hook body", reqs[0].obj(), fmt.Sprintf(`{"session":%q,"user":"42","topic":"hooked.ok.p"}`, c.session))
		}
		r := c.cmd("p", `{"type":"presence","id":"p","topic":"hooked.ok.p"}`)
		delete(r, "id")
		jsonEq(t, "presence of a hooked topic once subscribed", r,
			`{"type":"presence","topic":"hooked.ok.p","users":1,"sessions":1,"members":[{"user":"42","sessions":1,"info":{"name":"42"}}]}`)

		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":"hooked.ok.p"}`)
		if r := c.cmd("p", `{"type":"presence","id":"p","topic":"hooked.ok.p"}`); r["code"] != "forbidden" {
			t.Errorf("presence of a hooked topic after unsubscribing: %v, want forbidden", r)
		}

		for _, tc := range []struct {
			topic  string
			status int
		}{{"hooked.err", 403}, {"hooked.slow", 503}, {"hooked.ok.sse", 200}} {
			s, resp, body := sseOpen(t, h.base+"/sse?mode=ok&user=s&topic="+tc.topic, nil)
			if resp.StatusCode != tc.status || (s == nil && errorCode(body) != map[int]string{403: "forbidden", 503: "unavailable"}[tc.status]) {
				t.Errorf("/sse on %s: %d %s, want %d", tc.topic, resp.StatusCode, body, tc.status)
			}
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		user := wsOpen(t, h.ws+"?mode=ok&user=wh", dialOpts{})
		user.cmd("1", `{"type":"subscribe","id":"1","topic":"room.wh"}`)
		user.cmd("2", `{"type":"subscribe","id":"2","topic":"open.wh"}`)
		user.cmd("3", `{"type":"subscribe","id":"3","topic":"room.*"}`) // a pattern counts for nothing
		// Back within the delay: neither vacated nor a second occupied.
		user.cmd("4", `{"type":"unsubscribe","id":"4","topic":"open.wh"}`)
		user.cmd("5", `{"type":"subscribe","id":"5","topic":"open.wh"}`)
		user.cmd("6", `{"type":"unsubscribe","id":"6","topic":"open.wh"}`)
		user.cmd("7", `{"type":"unsubscribe","id":"7","topic":"room.wh"}`)
		user.clientClose()

		anon := wsOpen(t, h.ws+"?mode=anon", dialOpts{})
		anon.cmd("1", `{"type":"subscribe","id":"1","topic":"room.anon"}`)
		anon.conn.Close() // the TCP connection just drops: 1006
		kicked := wsOpen(t, h.ws+"?mode=ok&user=kicked", dialOpts{})
		rawPost(t, &h.node, "/api/disconnect", `{"user":"kicked"}`)
		kicked.answeredClose()

		want := []string{
			"topic_occupied room.wh", "member_added room.wh wh", "member_removed room.wh wh", "topic_vacated room.wh",
			"topic_occupied open.wh", "topic_vacated open.wh",
			"client_disconnected " + user.session + " wh 1000",
			"topic_occupied room.anon", "topic_vacated room.anon",
			"client_disconnected " + anon.session + "  1006",
			"client_disconnected " + kicked.session + " kicked 4004",
		}
		mine := func(ev map[string]any) (string, bool) {
			topic, _ := ev["topic"].(string)
			session, _ := ev["session"].(string)
			if topic == "room.wh" || topic == "open.wh" || topic == "room.anon" || topic == "room.*" {
				return strings.TrimSpace(fmt.Sprint(ev["name"], " ", topic, " ", strOr(ev["user"]))), true
			}
			if session == user.session || session == anon.session || session == kicked.session {
				return fmt.Sprint(ev["name"], " ", session, " ", strOr(ev["user"]), " ", ev["code"]), true
			}
			return "", false
		}
		var got []string
		eventually(t, "every webhook event", func() bool {
			got = got[:0]
			for _, ev := range backend.events(failures) {
				if s, ok := mine(ev); ok {
					got = append(got, s)
				}
			}
			return len(got) >= len(want)
		})
		// Per topic and per session, in order; no other event, none twice.
		for _, key := range []string{"room.wh", "open.wh", "room.anon", user.session, anon.session, kicked.session} {
			if g, w := filterHas(got, key), filterHas(want, key); fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("events of %s: %q, want %q", key, g, w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("events %q, want %q in some order", got, want)
		}

		reqs := backend.requests("/webhook")
		if len(reqs) <= failures {
			t.Fatalf("%d webhook requests, the first %d refused", len(reqs), failures)
		}
		for i, r := range reqs {
			checkSigned(t, fmt.Sprintf("webhook %d", i), r)
			m := r.obj()
			if keys(m) != "events,time_ms" || m["time_ms"].(float64) < float64(time.Now().Add(-time.Minute).UnixMilli()) {
				t.Errorf("webhook %d: %s", i, r.body)
			}
		}
		for _, ev := range backend.events(failures) {
			if ev["name"] == "client_disconnected" {
				if k := keys(ev); k != "code,name,session,user" {
					t.Errorf("client_disconnected has fields %s", k)
				}
			}
			if ev["name"] == "member_added" || ev["name"] == "member_removed" {
				if k := keys(ev); k != "name,topic,user" {
					t.Errorf("%s has fields %s", ev["name"], k)
				}
			}
		}
	})
}

func strOr(v any) string {
	s, _ := v.(string)
	return s
}

func filterHas(list []string, key string) []string {
	var out []string
	for _, s := range list {
		if strings.Contains(s, " "+key) {
			out = append(out, s)
		}
	}
	return out
}
