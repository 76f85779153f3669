package broker

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A refresh whose token allows less ends every subscription the new token
// does not allow, each with an unsubscribed notice saying forbidden, out
// of the index and the engine; the connection keeps the rest.
func TestNarrowerRefreshEndsForbiddenSubscriptions(t *testing.T) {
	wide := allowList{sub: []string{">"}, pub: []string{">"}}
	narrow := allowList{sub: []string{"chat.*"}, pub: []string{">"}}
	exp := time.Now().Add(time.Hour)
	v := tokens{
		"narrow": {Subject: "u1", Perms: narrow, Expires: exp},
		"all":    {Subject: "u1", Expires: exp}, // nil Perms: allowed everything
	}
	b, e := newTestBroker(t, Config{Tokens: v})
	c := connect(t, b, ClientInfo{Subject: "u1", Perms: wide, Expires: exp})
	topics := []string{"chat.a", "chat.*", "news", "user.1.>"}
	for _, p := range topics {
		if r := c.do(t, p, `{"type":"subscribe","id":"%s","topic":"%s"}`, p, p); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", p, r)
		}
	}
	if r := c.do(t, "r", `{"type":"refresh","id":"r","token":"all"}`); r["type"] != "refreshed" || len(c.ofType("unsubscribed")) != 0 {
		t.Fatalf("a refresh that allows everything: %v, then %v", r, c.ofType("unsubscribed"))
	}
	if r := c.do(t, "n", `{"type":"refresh","id":"n","token":"narrow"}`); r["type"] != "refreshed" {
		t.Fatalf("refresh: %v", r)
	}
	wantForbiddenNotices(t, c, "news", "user.1.>")
	for p, active := range map[string]bool{"chat.a": true, "chat.*": true, "news": false, "user.1.>": false} {
		if e.isActive(p) != active {
			t.Errorf("engine subscription %s active %v, want %v", p, !active, active)
		}
	}
	if s := b.Stats(); s.Subscriptions != 2 {
		t.Errorf("%d subscriptions in the index, want 2", s.Subscriptions)
	}
	publishAll(t, b, "news", "user.1.x", "chat.a")
	c.waitFor(t, "chat.a delivered", func(msgs []map[string]any, _ int) bool {
		return len(messagesOfType(msgs, "message")) > 0
	})
	for _, m := range c.ofType("message") {
		if m["topic"] != "chat.a" {
			t.Errorf("delivered %v after its subscription ended", m)
		}
	}
	if r := c.do(t, "u", `{"type":"unsubscribe","id":"u","topic":"news"}`); r["code"] != string(CodeNotSubscribed) {
		t.Errorf("unsubscribe from an ended subscription: %v", r)
	}
}

// wantForbiddenNotices checks that exactly the patterns were ended with a
// forbidden notice carrying no id, all before the refreshed reply.
func wantForbiddenNotices(t *testing.T, c *client, patterns ...string) {
	t.Helper()
	got := map[string]bool{}
	for _, m := range c.ofType("unsubscribed") {
		if _, hasID := m["id"]; hasID || m["reason"] != "forbidden" {
			t.Errorf("notice %v, want no id and reason forbidden", m)
		}
		got[m["topic"].(string)] = true
	}
	for _, p := range patterns {
		if !got[p] {
			t.Errorf("no unsubscribed notice for %s; got %v", p, c.ofType("unsubscribed"))
		}
	}
	if len(got) != len(patterns) {
		t.Errorf("notices for %v, want only %v", got, patterns)
	}
}

func publishAll(t *testing.T, b *Broker, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range topics {
		if _, err := b.Publish(ctx, topic, []byte("1"), ""); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
}

func messagesOfType(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// countedAllow is an allowList that counts its subscription checks and
// tells another of the same subscribe list apart from one of another.
type countedAllow struct {
	allowList
	checks *atomic.Int64
}

func (a countedAllow) CanSubscribe(p string) bool {
	a.checks.Add(1)
	return a.allowList.CanSubscribe(p)
}

func (a countedAllow) SameSubscribe(other Permissions) bool {
	o, ok := other.(countedAllow)
	return ok && slices.Equal(a.sub, o.sub)
}

// A refresh whose token allows the same subscriptions as the one in force
// checks none of the connection's subscriptions again: each check costs
// the length of the token's allow list, and a client may resend one token
// as often as the command rate lets it. A token that allows other
// subscriptions has them all checked, and ends those it does not allow.
func TestRefreshWithTheSameAllowChecksNoSubscription(t *testing.T) {
	var checks atomic.Int64
	same := countedAllow{allowList{sub: []string{"room.*"}}, &checks}
	narrow := countedAllow{allowList{sub: []string{"room.1"}}, &checks}
	exp := time.Now().Add(time.Hour)
	v := tokens{
		"same":   {Subject: "u1", Perms: same, Expires: exp},
		"narrow": {Subject: "u1", Perms: narrow, Expires: exp},
	}
	b, _ := newTestBroker(t, Config{Tokens: v})
	c := connect(t, b, ClientInfo{Subject: "u1", Perms: same, Expires: exp})
	var ended []string
	for i := range 20 {
		topic := fmt.Sprintf("room.%d", i)
		if r := c.do(t, topic, `{"type":"subscribe","id":"%s","topic":"%s"}`, topic, topic); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", topic, r)
		}
		if i != 1 {
			ended = append(ended, topic)
		}
	}
	checks.Store(0)
	for i := range 10 {
		if r := c.do(t, fmt.Sprint(i), `{"type":"refresh","id":"%d","token":"same"}`, i); r["type"] != "refreshed" {
			t.Fatalf("refresh: %v", r)
		}
	}
	if n := checks.Load(); n != 0 {
		t.Errorf("10 refreshes allowing the same made %d subscription checks, want 0", n)
	}
	if r := c.do(t, "n", `{"type":"refresh","id":"n","token":"narrow"}`); r["type"] != "refreshed" {
		t.Fatalf("refresh: %v", r)
	}
	if n := checks.Load(); n != 20 {
		t.Errorf("a refresh allowing less made %d subscription checks, want 20", n)
	}
	wantForbiddenNotices(t, c, ended...)
}
