package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Each bad command gets its error code, echoing the id where it has one,
// and the connection stays usable (docs/protocol.md section 2).
func TestCommandErrorsOverTheWire(t *testing.T) {
	n := startNode(t, options{})
	c := dial(t, n.ws)
	long := strings.Repeat("i", 65)
	big := `"` + strings.Repeat("x", 64<<10) + `"`
	cases := []struct {
		name, cmd, id, code string
	}{
		{"not JSON", `{"type":`, "", "bad_request"},
		{"not an object", `[1,2]`, "", "bad_request"},
		{"type not a string", `{"type":5,"id":"a"}`, "a", "bad_request"},
		{"no type", `{"id":"b"}`, "b", "bad_request"},
		{"unknown type", `{"type":"dance","id":"c"}`, "c", "unknown_type"},
		{"id too long (echoed, so the client can tell which)", `{"type":"ping","id":"` + long + `"}`, long, "bad_request"},
		{"subscribe without topic", `{"type":"subscribe","id":"d"}`, "d", "bad_request"},
		{"subscribe bad topic", `{"type":"subscribe","id":"e","topic":"a..b"}`, "e", "invalid_topic"},
		{"subscribe > not last", `{"type":"subscribe","id":"f","topic":"a.>.b"}`, "f", "invalid_topic"},
		{"since with a pattern", `{"type":"subscribe","id":"g","topic":"a.*","since":{"epoch":"x","seq":1}}`, "g", "bad_request"},
		{"unsubscribe not subscribed", `{"type":"unsubscribe","id":"h","topic":"nope"}`, "h", "not_subscribed"},
		{"publish to a pattern", `{"type":"publish","id":"i","topic":"a.*","data":1}`, "i", "invalid_topic"},
		{"publish without data", `{"type":"publish","id":"j","topic":"a"}`, "j", "bad_request"},
		{"publish too large", `{"type":"publish","id":"k","topic":"a","data":` + big + `}`, "k", "message_too_large"},
	}
	for i, tc := range cases {
		c.send("%s", tc.cmd)
		f := c.next()
		if f.Type != "error" || f.Code != tc.code || f.ID != tc.id {
			t.Errorf("%s: got %+v, want error %s with id %q", tc.name, f, tc.code, tc.id)
		}
		if i%5 == 4 { // stay under ten failures in a row
			c.send(`{"type":"ping","id":"ok%d"}`, i)
			if f := c.reply(fmt.Sprintf("ok%d", i)); f.Type != "pong" {
				t.Fatalf("ping after errors: %+v", f)
			}
		}
	}
}

// A command's string id is echoed by its reply even when it is empty,
// successes and errors alike (docs/protocol.md section 2).
func TestEmptyIDIsEchoed(t *testing.T) {
	n := startNode(t, options{})
	c := dial(t, n.ws)
	for _, cmd := range []string{
		`{"type":"ping","id":""}`,
		`{"type":"subscribe","id":"","topic":"empty.id"}`,
		`{"type":"publish","id":"","topic":"other","data":1}`,
		`{"type":"unsubscribe","id":"","topic":"empty.id"}`,
		`{"type":"dance","id":""}`,
	} {
		c.send("%s", cmd)
		m := c.nextObj()
		if id, ok := m["id"]; !ok || id != "" {
			t.Errorf("%s: reply %v does not echo the empty id", cmd, m)
		}
	}
	c.send(`{"type":"ping"}`)
	if m := c.nextObj(); m["type"] != "pong" || m["id"] != nil {
		t.Errorf("a ping without id: %v", m)
	}
}

// Subscribing twice, or by overlapping patterns, delivers a message once.
func TestOverlappingSubscriptionsDeliverOnce(t *testing.T) {
	n := startNode(t, options{})
	c := dial(t, n.ws)
	c.subscribe("1", "chat.*")
	c.subscribe("2", "chat.*")
	c.subscribe("3", "chat.>")
	c.subscribe("4", "chat.lobby")
	publish(t, n, "chat.lobby", `"one"`)
	publish(t, n, "chat.lobby", `"two"`)
	for _, want := range []string{`"one"`, `"two"`} {
		if f := c.next(); string(f.Data) != want {
			t.Fatalf("got %+v, want %s once", f, want)
		}
	}
	c.send(`{"type":"unsubscribe","id":"u","topic":"chat.lobby"}`)
	if f := c.reply("u"); f.Type != "unsubscribed" || f.Topic != "chat.lobby" {
		t.Fatalf("unsubscribe: %+v", f)
	}
	publish(t, n, "chat.lobby", `"three"`)
	if f := c.next(); string(f.Data) != `"three"` || f.Pattern == "" {
		t.Fatalf("after unsubscribing the topic, the patterns deliver: %+v", f)
	}
}

// A binary frame closes with 1003 (docs/protocol.md section 6).
func TestBinaryFrameCloses1003(t *testing.T) {
	n := startNode(t, options{})
	conn := rawConn(t, n.ws, 0)
	frame := maskedText("hello")
	frame[0] = 0x82 // FIN + binary
	conn.Write(frame)
	if code := lastCloseCode(conn); code != 1003 {
		t.Fatalf("close %d, want 1003", code)
	}
}

// HTTP routes answer a wrong method with 405 and the JSON error body.
func TestWrongMethod(t *testing.T) {
	n := startNode(t, options{})
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/publish"}, {"GET", "/api/broadcast"}, {"GET", "/api/batch"},
		{"POST", "/api/history"}, {"POST", "/api/topics"}, {"DELETE", "/api/stats"},
	} {
		req, _ := http.NewRequest(r.method, n.base+r.path, nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || !strings.Contains(string(body), `"method_not_allowed"`) {
			t.Errorf("%s %s: %d %s", r.method, r.path, resp.StatusCode, body)
		}
	}
}
