package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// Tests of section 11 (backend hooks) of the wire protocol, against a
// herald process and a backend that records every hook request.

const hookSecret = "spec-hook-secret"

type hookReq struct {
	method string
	header http.Header
	body   []byte
}

func (r hookReq) obj() map[string]any { return jsonObject(r.body) }

// hookBackend answers connect hooks by the connection's `mode` query
// parameter, subscribe hooks by the topic, and takes webhook batches
// after failing the first ones.
type hookBackend struct {
	mu              sync.Mutex
	reqs            map[string][]hookReq // by path
	webhookFailures int
}

func (b *hookBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.reqs[r.URL.Path] = append(b.reqs[r.URL.Path], hookReq{r.Method, r.Header.Clone(), body})
	fail := r.URL.Path == "/webhook" && b.webhookFailures > 0
	if fail {
		b.webhookFailures--
	}
	b.mu.Unlock()
	var req map[string]any
	json.Unmarshal(body, &req)
	slow := func() {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	switch r.URL.Path {
	case "/connect":
		q, _ := req["query"].(map[string]any)
		user, _ := q["user"].(string)
		switch q["mode"] {
		case "ok":
			subs := "[]"
			if q["subs"] != nil {
				subs = `["subs.x"]`
			}
			fmt.Fprintf(w, `{"user":%q,"allow":{"subscribe":["room.*","open.*"]},"info":{"name":%q},"subs":%s}`, user, user, subs)
		case "anon":
			fmt.Fprint(w, `{"allow":{"subscribe":[">"]}}`)
		case "expire":
			fmt.Fprintf(w, `{"user":"e","expire_at":%.3f}`, float64(time.Now().Add(1500*time.Millisecond).UnixMilli())/1000)
		case "expired":
			fmt.Fprintf(w, `{"user":"e","expire_at":%.3f}`, float64(time.Now().Add(-time.Second).UnixMilli())/1000)
		case "bigInfo":
			fmt.Fprintf(w, `{"user":"b","info":{"n":%q}}`, strings.Repeat("x", 1100))
		case "err401":
			fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"who are you"}}`)
		case "err403":
			fmt.Fprint(w, `{"error":{"code":"forbidden","message":"not you"}}`)
		case "s401":
			w.WriteHeader(401)
		case "s403":
			w.WriteHeader(403)
		case "s500":
			w.WriteHeader(500)
		case "notjson":
			fmt.Fprint(w, "hello")
		case "slow":
			slow()
		}
	case "/subscribe":
		topic, _ := req["topic"].(string)
		switch {
		case strings.HasPrefix(topic, "hooked.ok."):
			fmt.Fprint(w, `{}`)
		case topic == "hooked.err":
			fmt.Fprint(w, `{"error":{"code":"forbidden","message":"no"}}`)
		case topic == "hooked.errstr": // an error with no shape is a no too
			fmt.Fprint(w, `{"error":"no"}`)
		case topic == "hooked.403":
			w.WriteHeader(403)
		case topic == "hooked.500":
			w.WriteHeader(500)
		case topic == "hooked.slow":
			slow()
		}
	case "/webhook":
		if fail {
			w.WriteHeader(500)
		}
	}
}

func (b *hookBackend) requests(path string) []hookReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hookReq(nil), b.reqs[path]...)
}

// accepted lists the webhook events of batches answered 2xx, in order.
// Only the last attempt of a batch can have been taken, so batches that
// failed are told apart by their position among the failures.
func (b *hookBackend) events(failed int) []map[string]any {
	var out []map[string]any
	for i, r := range b.requests("/webhook") {
		if i < failed {
			continue
		}
		evs, _ := r.obj()["events"].([]any)
		for _, e := range evs {
			out = append(out, e.(map[string]any))
		}
	}
	return out
}

// checkSigned fails unless r is a signed JSON POST.
func checkSigned(t *testing.T, what string, r hookReq) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(r.body)
	if got, want := r.header.Get("X-Herald-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("%s: X-Herald-Signature %q, want %q", what, got, want)
	}
	if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: %s with Content-Type %q", what, r.method, r.header.Get("Content-Type"))
	}
}

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
		kicked.closeCode()

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
