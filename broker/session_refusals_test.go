package broker

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// What a session refuses, and how (docs/protocol.md section 6): commands
// in error, limits crossed, failures that close it, an engine that fails.

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
	if s, topics := b.Stats(), topicsOf(t, b); s.Subscriptions != 0 || s.Topics != 0 || len(topics) != 0 {
		t.Errorf("a failed subscribe left %+v %v", s, topics)
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
