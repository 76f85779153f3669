package broker

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestWelcome(t *testing.T) {
	b, _ := newTestBroker(t, Config{NodeID: "n7"})
	c := connect(t, b, ClientInfo{})
	c.waitFor(t, "welcome", func(m []map[string]any, _ int) bool { return len(m) == 1 })
	w := c.ofType("welcome")[0]
	if _, err := uuid.Parse(w["session"].(string)); err != nil || w["session"] != c.s.ID() {
		t.Errorf("session %v is not the session's uuid %s", w["session"], c.s.ID())
	}
	if w["node"] != "n7" || num(t, w["heartbeat"]) != 25 {
		t.Errorf("welcome = %v", w)
	}
}

func TestWelcomeRoundsTheHeartbeatUp(t *testing.T) {
	for hb, want := range map[time.Duration]uint64{500 * time.Millisecond: 1, 2 * time.Second: 2, 2500 * time.Millisecond: 3} {
		b, _ := newTestBroker(t, Config{Heartbeat: hb})
		c := connect(t, b, ClientInfo{})
		c.waitFor(t, "welcome", func(m []map[string]any, _ int) bool { return len(m) == 1 })
		if got := num(t, c.ofType("welcome")[0]["heartbeat"]); got != want {
			t.Errorf("heartbeat %v announced as %v, want %v", hb, got, want)
		}
	}
}

func TestPing(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "5", `{"type":"ping","id":"5","extra":{"ignored":true}}`); r["type"] != "pong" {
		t.Errorf("reply %v", r)
	}
	c.s.HandleText([]byte(`{"type":"ping"}`))
	c.waitFor(t, "pong without id", func(m []map[string]any, _ int) bool { return len(c.ofTypeLocked(m, "pong")) == 2 })
	if _, has := c.ofType("pong")[1]["id"]; has {
		t.Error("a reply to a command without id carries an id")
	}
}

func (c *fakeConn) ofTypeLocked(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func TestSubscribePublishExact(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	sub := connect(t, b, ClientInfo{})
	pub := connect(t, b, ClientInfo{})
	r := sub.do(t, "1", `{"type":"subscribe","id":"1","topic":"chat.lobby"}`)
	if r["type"] != "subscribed" || r["topic"] != "chat.lobby" || r["epoch"] != "e1" || num(t, r["seq"]) != 0 {
		t.Fatalf("subscribed = %v", r)
	}
	if _, has := r["recovered"]; has {
		t.Error("recovered in a plain subscribe")
	}
	if !e.isActive("chat.lobby") {
		t.Error("engine not subscribed")
	}
	p := pub.do(t, "2", `{"type":"publish","id":"2","topic":"chat.lobby","data":{"text": "hi"}}`)
	if p["type"] != "published" || p["topic"] != "chat.lobby" || num(t, p["seq"]) != 1 {
		t.Fatalf("published = %v", p)
	}
	if _, err := uuid.Parse(p["msg"].(string)); err != nil {
		t.Errorf("msg %v: %v", p["msg"], err)
	}
	sub.waitFor(t, "message", func(m []map[string]any, _ int) bool { return len(sub.ofTypeLocked(m, "message")) == 1 })
	m := sub.ofType("message")[0]
	if m["topic"] != "chat.lobby" || num(t, m["seq"]) != 1 || m["msg"] != p["msg"] || num(t, m["time"]) == 0 {
		t.Errorf("message = %v", m)
	}
	if _, has := m["pattern"]; has {
		t.Error("exact delivery tagged with a pattern")
	}
	if d := m["data"].(map[string]any); d["text"] != "hi" {
		t.Errorf("data = %v", d)
	}
}

func TestDataByteForByte(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := newFakeConnRaw(t)
	s := b.Connect(c, ClientInfo{})
	s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"t"}`))
	c.waitRaw(t, `"subscribed"`)
	data := `{"b" : [1, 2.50, "\u00e9"],  "a":null}`
	if _, err := b.Publish(t.Context(), "t", []byte(data), ""); err != nil {
		t.Fatal(err)
	}
	c.waitRaw(t, `"data":`+data+`}`)
}

func TestSubscribePattern(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"chat.*"}`)
	if r["type"] != "subscribed" || r["topic"] != "chat.*" {
		t.Fatalf("reply %v", r)
	}
	for _, k := range []string{"epoch", "seq", "recovered"} {
		if _, has := r[k]; has {
			t.Errorf("pattern reply has %s", k)
		}
	}
	if !e.isActive("chat.*") {
		t.Error("engine not subscribed to the pattern")
	}
	for _, topic := range []string{"chat.a", "chat", "chat.a.b", "news"} {
		if _, err := b.Publish(t.Context(), topic, []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	got := c.ofType("message")
	if len(got) != 1 || got[0]["topic"] != "chat.a" || got[0]["pattern"] != "chat.*" {
		t.Errorf("messages = %v", got)
	}
}

func TestOverlappingSubscriptionsDeliverOnce(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	other := connect(t, b, ClientInfo{})
	for i, p := range []string{"chat.a", "chat.*", "chat.>", ">", "*.a"} {
		id := string(rune('1' + i))
		if r := c.do(t, id, `{"type":"subscribe","id":"%s","topic":"%s"}`, id, p); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", p, r)
		}
	}
	other.do(t, "1", `{"type":"subscribe","id":"1","topic":"chat.*"}`)
	for _, topic := range []string{"chat.a", "chat.b", "news"} {
		if _, err := b.Publish(t.Context(), topic, []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	got := c.ofType("message")
	if len(got) != 3 {
		t.Fatalf("got %d messages, want one per topic: %v", len(got), got)
	}
	if _, tagged := got[0]["pattern"]; got[0]["topic"] != "chat.a" || tagged {
		t.Errorf("chat.a went through a pattern though the exact topic is subscribed: %v", got[0])
	}
	if got[1]["topic"] != "chat.b" || got[1]["pattern"] == nil {
		t.Errorf("chat.b: %v", got[1])
	}
	if got[2]["topic"] != "news" || got[2]["pattern"] != ">" {
		t.Errorf("news: %v", got[2])
	}
	other.do(t, "sync", `{"type":"ping","id":"sync"}`)
	if n := len(other.ofType("message")); n != 2 {
		t.Errorf("other connection got %d messages, want 2", n)
	}
}

func TestSubscribeTwice(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	for _, p := range []string{"t", "t.*"} {
		for i := range 2 {
			id := p + string(rune('0'+i))
			if r := c.do(t, id, `{"type":"subscribe","id":"%s","topic":"%s"}`, id, p); r["type"] != "subscribed" {
				t.Fatalf("%v", r)
			}
		}
	}
	if r := c.do(t, "r", `{"type":"subscribe","id":"r","topic":"t","since":{"epoch":"e1","seq":0}}`); r["recovered"] != true {
		t.Errorf("resubscribe since the start: %v", r)
	}
	b.Publish(t.Context(), "t", []byte(`1`), "")
	b.Publish(t.Context(), "t.x", []byte(`2`), "")
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	if n := len(c.ofType("message")); n != 2 {
		t.Errorf("got %d messages, want 2", n)
	}
	if s := b.Stats(); s.Subscriptions != 2 || s.Topics != 2 {
		t.Errorf("stats %+v", s)
	}
	_ = e
}

func TestUnsubscribe(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	c2 := connect(t, b, ClientInfo{})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t"}`)
	c2.do(t, "1", `{"type":"subscribe","id":"1","topic":"t"}`)
	r := c.do(t, "2", `{"type":"unsubscribe","id":"2","topic":"t"}`)
	if r["type"] != "unsubscribed" || r["topic"] != "t" {
		t.Fatalf("%v", r)
	}
	if !e.isActive("t") {
		t.Error("engine unsubscribed while another connection still has the topic")
	}
	b.Publish(t.Context(), "t", []byte(`1`), "")
	c.do(t, "sync", `{"type":"ping","id":"sync"}`)
	if n := len(c.ofType("message")); n != 0 {
		t.Errorf("got %d messages after unsubscribing", n)
	}
	if r := c.do(t, "3", `{"type":"unsubscribe","id":"3","topic":"t"}`); r["code"] != string(CodeNotSubscribed) {
		t.Errorf("second unsubscribe: %v", r)
	}
	c2.do(t, "2", `{"type":"unsubscribe","id":"2","topic":"t"}`)
	if e.isActive("t") {
		t.Error("engine still subscribed after the last local subscriber left")
	}
	if s := b.Stats(); s.Subscriptions != 0 || s.Topics != 0 {
		t.Errorf("stats %+v", s)
	}
}
