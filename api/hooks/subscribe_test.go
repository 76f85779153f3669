package hooks_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/node"
)

// The subscribe hook is posted session, user and topic; its answers map
// to the client's replies as section 11 says.
func TestSubscribeHookAnswers(t *testing.T) {
	connect := newBackend(t, answerJSON(200, `{"user":"42"}`)) // allows nothing by itself
	sub := newBackend(t, answerJSON(200, `{}`))
	n := startNode(t, node.Hooks{ConnectURL: connect.srv.URL, SubscribeURL: sub.srv.URL, Timeout: 200 * time.Millisecond}, nil)
	c, welcome := dial(t, n, "")
	c.send(`{"type":"subscribe","id":"1","topic":"room.1"}`)
	if r := c.reply("1"); r["type"] != "subscribed" {
		t.Fatalf("accepted by the hook, allowed by no allow claim: %v", r)
	}
	want := fmt.Sprintf(`{"session":%q,"user":"42","topic":"room.1"}`, welcome["session"])
	if got := sub.requests(); len(got) != 1 || got[0] != want {
		t.Fatalf("subscribe requests %v, want [%s]", got, want)
	}
	slow := func(w http.ResponseWriter, _ map[string]any) { time.Sleep(time.Second) }
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, map[string]any)
		code   string
	}{
		{"200 error", answerJSON(200, `{"error":{"code":"forbidden","message":"not a member"}}`), "forbidden"},
		{"200 error string", answerJSON(200, `{"error":"not a member"}`), "forbidden"},
		{"200 error without code", answerJSON(200, `{"error":{"message":"not a member"}}`), "forbidden"},
		{"403", answerJSON(403, `{}`), "forbidden"},
		{"500", answerJSON(500, `{}`), "unavailable"},
		{"404", answerJSON(404, `{}`), "unavailable"},
		{"not JSON", answerJSON(200, `ok`), "unavailable"},
		{"timeout", slow, "unavailable"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub.setAnswer(tc.answer)
			id := fmt.Sprint(i + 10)
			c.send(`{"type":"subscribe","id":%q,"topic":"room.x%d"}`, id, i)
			if r := c.reply(id); r["code"] != tc.code {
				t.Fatalf("got %v, want %s", r, tc.code)
			}
		})
	}
	// The backend recovers: the same subscription is accepted.
	sub.setAnswer(answerJSON(200, `{}`))
	c.send(`{"type":"subscribe","id":"20","topic":"room.x0"}`)
	if r := c.reply("20"); r["type"] != "subscribed" {
		t.Fatalf("after recovery: %v", r)
	}
	if got := metric(t, n, `herald_hook_requests_total{hook="subscribe",outcome="refused"}`); got != "4" {
		t.Fatalf("subscribe refused count %q, want 4", got)
	}
}

// Only subscriptions that can reach a hooked topic ask the hook; one
// wholly under them skips allow.subscribe, one that only overlaps them
// needs both.
func TestSubscribeHookTopics(t *testing.T) {
	connect := newBackend(t, answerJSON(200, `{"user":"1","allow":{"subscribe":["news",">"]}}`))
	sub := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		if body["topic"] == "room.secret" {
			answerJSON(403, `{}`)(w, body)
			return
		}
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{ConnectURL: connect.srv.URL, SubscribeURL: sub.srv.URL, SubscribeTopics: []string{"room.>"}}, nil)
	c, _ := dial(t, n, "")
	for i, tc := range []struct {
		topic string
		want  string // type or error code
		asks  bool
	}{
		{"news", "subscribed", false},
		{"room.1", "subscribed", true},
		{"room.secret", "forbidden", true},
		{"room.*", "subscribed", true},
		{">", "subscribed", true},
	} {
		before := len(sub.requests())
		id := fmt.Sprint(i)
		c.send(`{"type":"subscribe","id":%q,"topic":%q}`, id, tc.topic)
		r := c.reply(id)
		if got := r["type"]; got != tc.want && r["code"] != tc.want {
			t.Fatalf("%s: %v, want %s", tc.topic, r, tc.want)
		}
		if asked := len(sub.requests()) > before; asked != tc.asks {
			t.Fatalf("%s: hook asked %v, want %v", tc.topic, asked, tc.asks)
		}
	}
}

// A slow backend delays only the subscription it is asked about: the
// same connection's other commands, and other connections, go on.
func TestSubscribeHookSlowBackendDelaysOnlyItsSubscription(t *testing.T) {
	release := newGate(t)
	sub := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		if body["topic"] == "slow.1" {
			release.wait()
		}
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{SubscribeURL: sub.srv.URL, SubscribeTopics: []string{"slow.>"}, Timeout: wait}, nil)
	c, _ := dial(t, n, "")
	other, _ := dial(t, n, "")
	c.send(`{"type":"subscribe","id":"slow","topic":"slow.1"}`)
	eventually(t, "the hook is asked", func() bool { return len(sub.requests()) == 1 })
	c.send(`{"type":"subscribe","id":"1","topic":"news"}`)
	if r := c.read(); r["id"] != "1" || r["type"] != "subscribed" {
		t.Fatalf("the next command waited: %v", r)
	}
	c.send(`{"type":"ping","id":"2"}`)
	if r := c.read(); r["id"] != "2" {
		t.Fatalf("the ping waited: %v", r)
	}
	other.send(`{"type":"subscribe","id":"3","topic":"slow.2"}`)
	if r := other.read(); r["id"] != "3" || r["type"] != "subscribed" {
		t.Fatalf("another connection waited: %v", r)
	}
	other.send(`{"type":"publish","id":"4","topic":"news","data":1}`)
	if r := other.read(); r["type"] != "published" {
		t.Fatalf("publish: %v", r)
	}
	if r := c.read(); r["type"] != "message" {
		t.Fatalf("delivery waited: %v", r)
	}
	release.open()
	if r := c.read(); r["id"] != "slow" || r["type"] != "subscribed" {
		t.Fatalf("after the backend answered: %v", r)
	}
}

// One connection cannot have more than its bound of subscriptions
// waiting for the backend.
func TestSubscribeHookWaitingIsBoundedPerConnection(t *testing.T) {
	release := newGate(t)
	sub := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		release.wait()
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{SubscribeURL: sub.srv.URL, Timeout: wait}, nil)
	c, _ := dial(t, n, "")
	const bound = 16
	for i := range bound + 3 {
		c.send(`{"type":"subscribe","id":"%d","topic":"t.%d"}`, i, i)
	}
	for range 3 {
		if r := c.read(); r["code"] != "rate_limited" {
			t.Fatalf("past the bound: %v", r)
		}
	}
	eventually(t, "the hook is asked for each waiting subscription", func() bool { return len(sub.requests()) == bound })
	release.open()
	for range bound {
		if r := c.read(); r["type"] != "subscribed" {
			t.Fatalf("after release: %v", r)
		}
	}
	if got := len(sub.requests()); got != bound {
		t.Fatalf("%d hook requests, want %d", got, bound)
	}
}

// An unsubscribe sent while its subscribe waits for the backend runs
// right after it: the client ends unsubscribed, as it asked last.
func TestSubscribeHookKeepsATopicsCommandsInOrder(t *testing.T) {
	release := newGate(t)
	sub := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		release.wait()
		if body["topic"] == "room.no" {
			answerJSON(403, `{}`)(w, body)
			return
		}
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{SubscribeURL: sub.srv.URL, Timeout: wait}, nil)
	c, _ := dial(t, n, "")
	c.send(`{"type":"subscribe","id":"s1","topic":"room.1"}`)
	c.send(`{"type":"unsubscribe","id":"u1","topic":"room.1"}`)
	c.send(`{"type":"subscribe","id":"s2","topic":"room.no"}`)
	c.send(`{"type":"subscribe","id":"s3","topic":"room.no"}`)
	c.send(`{"type":"unsubscribe","id":"u2","topic":"room.no"}`)
	c.send(`{"type":"ping","id":"p"}`)
	if r := c.read(); r["id"] != "p" {
		t.Fatalf("the ping waited behind the held topics: %v", r)
	}
	eventually(t, "both subscribes asked", func() bool { return len(sub.requests()) == 2 })
	release.open()
	got := map[string]string{}
	var order []string
	for range 5 {
		r := c.read()
		id := r["id"].(string)
		got[id] = fmt.Sprint(r["type"], "/", r["code"])
		order = append(order, id)
	}
	want := map[string]string{
		"s1": "subscribed/<nil>", "u1": "unsubscribed/<nil>",
		"s2": "error/forbidden", "s3": "error/forbidden", "u2": "error/not_subscribed",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replies %v, want %v", got, want)
	}
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if pos["s1"] > pos["u1"] || pos["s2"] > pos["s3"] || pos["s3"] > pos["u2"] {
		t.Fatalf("a topic's replies out of order: %v", order)
	}
	if got := len(sub.requests()); got != 2 {
		t.Fatalf("the hook was asked %d times, want 2", got)
	}
	// room.1 is not held: a publish to it reaches nobody here.
	c.send(`{"type":"publish","id":"x","topic":"room.1","data":1}`)
	if r := c.read(); r["type"] != "published" {
		t.Fatalf("expected only the publish reply, got %v", r)
	}
	c.send(`{"type":"ping","id":"p2"}`)
	if r := c.read(); r["id"] != "p2" {
		t.Fatalf("a message of a topic the client unsubscribed from: %v", r)
	}
}
