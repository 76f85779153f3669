package broker

import (
	"errors"
	"strings"
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

func TestCommandErrors(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		name, text string
		id         string
		code       Code
	}{
		{"not JSON", `{"type":`, "", CodeBadRequest},
		{"not an object", `[1,2]`, "", CodeBadRequest},
		{"no type", `{"id":"a"}`, "a", CodeBadRequest},
		{"type not a string", `{"type":5,"id":"a"}`, "a", CodeBadRequest},
		{"unknown type", `{"type":"dance","id":"a"}`, "a", CodeUnknownType},
		{"id too long", `{"type":"ping","id":"` + long + `"}`, long, CodeBadRequest},
		{"id not a string", `{"type":"ping","id":7}`, "", CodeBadRequest},
		{"subscribe without topic", `{"type":"subscribe","id":"a"}`, "a", CodeBadRequest},
		{"subscribe with a null topic", `{"type":"subscribe","id":"a","topic":null}`, "a", CodeBadRequest},
		{"subscribe with a topic not a string", `{"type":"subscribe","id":"a","topic":7}`, "a", CodeBadRequest},
		{"subscribe empty topic", `{"type":"subscribe","id":"a","topic":""}`, "a", CodeInvalidTopic},
		{"publish empty topic", `{"type":"publish","id":"a","topic":"","data":1}`, "a", CodeInvalidTopic},
		{"subscribe bad topic", `{"type":"subscribe","id":"a","topic":"a..b"}`, "a", CodeInvalidTopic},
		{"subscribe bad pattern", `{"type":"subscribe","id":"a","topic":"a.>.b"}`, "a", CodeInvalidTopic},
		{"since with a pattern", `{"type":"subscribe","id":"a","topic":"a.*","since":{"epoch":"e1","seq":1}}`, "a", CodeBadRequest},
		{"since of the wrong type", `{"type":"subscribe","id":"a","topic":"a","since":{"seq":-1}}`, "a", CodeBadRequest},
		{"unsubscribe bad topic", `{"type":"unsubscribe","id":"a","topic":"a b"}`, "a", CodeInvalidTopic},
		{"unsubscribe not subscribed", `{"type":"unsubscribe","id":"a","topic":"a"}`, "a", CodeNotSubscribed},
		{"publish to a pattern", `{"type":"publish","id":"a","topic":"a.*","data":1}`, "a", CodeInvalidTopic},
		{"publish without data", `{"type":"publish","id":"a","topic":"a"}`, "a", CodeBadRequest},
		{"publish too large", `{"type":"publish","id":"a","topic":"a","data":"` + strings.Repeat("x", 20) + `"}`, "a", CodeMessageTooLarge},
		{"refresh without token", `{"type":"refresh","id":"a"}`, "a", CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBroker(t, Config{MaxMessageBytes: 16})
			c := connect(t, b, ClientInfo{})
			c.s.HandleText([]byte(tt.text))
			c.waitFor(t, "error", func(m []map[string]any, _ int) bool { return len(c.ofTypeLocked(m, "error")) == 1 })
			r := c.ofType("error")[0]
			if r["code"] != string(tt.code) || r["message"] == "" {
				t.Errorf("reply %v, want code %s", r, tt.code)
			}
			if id, _ := r["id"].(string); id != tt.id {
				t.Errorf("id %q, want %q", id, tt.id)
			}
			if c.code() != 0 {
				t.Errorf("closed with %d after one error", c.code())
			}
		})
	}
}

func TestPublishNullDataAndExactSize(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxMessageBytes: 4})
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "1", `{"type":"publish","id":"1","topic":"a","data":null}`); r["type"] != "published" {
		t.Errorf("null data: %v", r)
	}
	if r := c.do(t, "2", `{"type":"publish","id":"2","topic":"a","data":"ab"}`); r["type"] != "published" {
		t.Errorf("data of exactly the limit: %v", r)
	}
}

func TestTooManySubscriptions(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 2})
	c := connect(t, b, ClientInfo{})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"a"}`)
	c.do(t, "2", `{"type":"subscribe","id":"2","topic":"b.*"}`)
	if r := c.do(t, "3", `{"type":"subscribe","id":"3","topic":"c"}`); r["code"] != string(CodeTooManySubscriptions) {
		t.Errorf("third: %v", r)
	}
	if r := c.do(t, "4", `{"type":"subscribe","id":"4","topic":"a"}`); r["type"] != "subscribed" {
		t.Errorf("again to one it has: %v", r)
	}
	c.do(t, "5", `{"type":"unsubscribe","id":"5","topic":"a"}`)
	if r := c.do(t, "6", `{"type":"subscribe","id":"6","topic":"c"}`); r["type"] != "subscribed" {
		t.Errorf("after unsubscribing: %v", r)
	}
}

func TestTenFailuresClose4003(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	for range 9 {
		c.s.HandleText([]byte(`nope`))
	}
	c.do(t, "ok", `{"type":"ping","id":"ok"}`) // a success starts the count again
	for range 9 {
		c.s.HandleText([]byte(`nope`))
	}
	c.do(t, "ok2", `{"type":"ping","id":"ok2"}`)
	if c.code() != 0 {
		t.Fatalf("closed with %d after nine failures in a row", c.code())
	}
	for i := range 10 {
		c.s.HandleText([]byte(`{"type":"unsubscribe","topic":"x","id":"` + string(rune('a'+i)) + `"}`))
	}
	c.waitFor(t, "close", func(_ []map[string]any, code int) bool { return code != 0 })
	if c.code() != CloseTooManyErrors {
		t.Errorf("close code %d, want %d", c.code(), CloseTooManyErrors)
	}
}

func TestUnavailableAndRateLimitedDoNotCount(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: 1})
	e.failPublish = Unavailable(errors.New("redis down"))
	c := connect(t, b, ClientInfo{})
	c.do(t, "p", `{"type":"publish","id":"p","topic":"a","data":1}`)
	for range 30 {
		c.s.HandleText([]byte(`nope`))
	}
	c.do(t, "x", `{"type":"ping","id":"x"}`)
	if got := c.ofType("error"); got[0]["code"] != string(CodeUnavailable) {
		t.Errorf("first error %v", got[0])
	}
	limited := 0
	for _, m := range c.ofType("error") {
		if m["code"] == string(CodeRateLimited) {
			limited++
		}
	}
	if limited == 0 || c.code() != 0 {
		t.Errorf("%d rate_limited, close %d; want some and no close", limited, c.code())
	}
}

func TestRateLimitBurst(t *testing.T) {
	const rate, sent = 5, 40
	b, _ := newTestBroker(t, Config{RateLimit: rate})
	c := connect(t, b, ClientInfo{})
	start := time.Now()
	for range sent {
		c.s.HandleText([]byte(`{"type":"ping","id":"p"}`))
	}
	// The bucket refills while the loop runs; a slow machine earns more.
	most := 2*rate + 1 + int(time.Since(start).Seconds()*rate)
	pongs, limited := len(c.ofType("pong")), len(c.ofType("error"))
	if pongs < 2*rate || pongs > most || pongs+limited != sent {
		t.Errorf("%d pongs, %d rate_limited; want a burst of %d to %d and the rest limited", pongs, limited, 2*rate, most)
	}
	for _, m := range c.ofType("error") {
		if m["code"] != string(CodeRateLimited) || m["id"] != "p" {
			t.Fatalf("%v", m)
		}
	}
}

func TestEngineFailures(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	e.failSubscribe = Unavailable(errors.New("down"))
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"a"}`); r["code"] != string(CodeUnavailable) {
		t.Errorf("%v", r)
	}
	e.failSubscribe = errors.New("boom")
	if r := c.do(t, "2", `{"type":"subscribe","id":"2","topic":"a.*"}`); r["code"] != string(CodeInternal) {
		t.Errorf("%v", r)
	}
	e.failSubscribe = nil
	e.failPosition = Unavailable(errors.New("down"))
	if r := c.do(t, "3", `{"type":"subscribe","id":"3","topic":"a"}`); r["code"] != string(CodeUnavailable) {
		t.Errorf("%v", r)
	}
	if r := c.do(t, "4", `{"type":"subscribe","id":"4","topic":"a","since":{"epoch":"e1","seq":0}}`); r["code"] != string(CodeUnavailable) {
		t.Errorf("%v", r)
	}
	if s := b.Stats(); s.Subscriptions != 0 || s.Topics != 0 || len(b.Topics()) != 0 {
		t.Errorf("a failed subscribe left %+v %v", s, b.Topics())
	}
	if e.isActive("a") {
		t.Error("a failed subscribe left the engine subscribed")
	}
	e.failPosition = nil
	if r := c.do(t, "5", `{"type":"subscribe","id":"5","topic":"a"}`); r["type"] != "subscribed" {
		t.Errorf("after recovery: %v", r)
	}
	e.failPublish = errors.New("boom")
	if r := c.do(t, "6", `{"type":"publish","id":"6","topic":"a","data":1}`); r["code"] != string(CodeInternal) {
		t.Errorf("%v", r)
	}
}
