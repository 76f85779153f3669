package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestControlDisconnect(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	a1, a2, other, anon := connect(t, b, user("42")), connect(t, b, user("42")), connect(t, b, user("43")), connect(t, b, ClientInfo{})
	if err := b.Control(t.Context(), Control{Kind: ControlDisconnect, User: "42"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a1, a2} {
		c.waitFor(t, "close 4004", func(_ []map[string]any, code int) bool { return code == CloseDisconnected })
	}
	if err := b.Control(t.Context(), Control{Kind: ControlDisconnect, Session: anon.s.ID()}); err != nil {
		t.Fatal(err)
	}
	anon.waitFor(t, "close 4004", func(_ []map[string]any, code int) bool { return code == CloseDisconnected })
	if code := other.code(); code != 0 {
		t.Errorf("a session of another user was closed with %d", code)
	}
	// Nobody connected, or a session id that is no uuid: not an error.
	for _, c := range []Control{{Kind: ControlDisconnect, User: "nobody"}, {Kind: ControlDisconnect, Session: "not-a-uuid"}} {
		if err := b.Control(t.Context(), c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if code := other.code(); code != 0 {
		t.Errorf("closed with %d", code)
	}
}

// A disconnected session leaves the index: a later control by its id or
// user finds nothing.
func TestControlForgetsClosedSessions(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, user("42"))
	c.s.Disconnected()
	if got := b.sessions.find("42", ""); len(got) != 0 {
		t.Errorf("by user: %d sessions", len(got))
	}
	if got := b.sessions.find("", c.s.ID()); len(got) != 0 {
		t.Errorf("by id: %d sessions", len(got))
	}
}

func TestControlSubscribeAndUnsubscribe(t *testing.T) {
	b, e := newTestBroker(t, Config{PresenceTopics: []string{"room.*"}})
	locked := ClientInfo{Subject: "42", Perms: allowList{}} // may subscribe to nothing
	tab1, tab2, other := connect(t, b, locked), connect(t, b, locked), connect(t, b, user("43"))
	pub := connect(t, b, ClientInfo{})
	for _, topic := range []string{"user:42.notices", "room.*", "room.1"} {
		if err := b.Control(t.Context(), Control{Kind: ControlSubscribe, User: "42", Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client{tab1, tab2} {
		c.waitFor(t, "three server subscriptions", func(msgs []map[string]any, _ int) bool {
			return len(c.ofTypeLocked(msgs, "subscribed")) == 3
		})
		got := c.ofType("subscribed")
		if s := fmt.Sprint(got[0]); s != "map[epoch:e1 seq:0 server:true topic:user:42.notices type:subscribed]" {
			t.Errorf("exact server subscription announced as %s", s)
		}
		if s := fmt.Sprint(got[1]); s != "map[server:true topic:room.* type:subscribed]" {
			t.Errorf("pattern server subscription announced as %s", s)
		}
	}
	if n := e.presentSessions("room.1"); n != 2 {
		t.Errorf("%d presence entries on room.1, want the two server-made ones", n)
	}
	pub.do(t, "p", `{"type":"publish","id":"p","topic":"user:42.notices","data":"hi"}`)
	tab1.waitFor(t, "message", func(msgs []map[string]any, _ int) bool { return len(tab1.ofTypeLocked(msgs, "message")) == 1 })

	if err := b.Control(t.Context(), Control{Kind: ControlUnsubscribe, Session: tab2.s.ID(), Topic: "room.*"}); err != nil {
		t.Fatal(err)
	}
	tab2.waitFor(t, "unsubscribed", func(msgs []map[string]any, _ int) bool { return len(tab2.ofTypeLocked(msgs, "unsubscribed")) == 1 })
	if s := fmt.Sprint(tab2.ofType("unsubscribed")[0]); s != "map[reason:server topic:room.* type:unsubscribed]" {
		t.Errorf("unsubscribed = %s", s)
	}
	// A topic the session has not subscribed exactly so: nothing happens.
	b.Control(t.Context(), Control{Kind: ControlUnsubscribe, User: "42", Topic: "room.2"})
	b.Control(t.Context(), Control{Kind: ControlUnsubscribe, User: "42", Topic: "room.1"})
	tab1.waitFor(t, "unsubscribed", func(msgs []map[string]any, _ int) bool { return len(tab1.ofTypeLocked(msgs, "unsubscribed")) == 1 })
	waitEntries(t, e, "room.1", 0)
	tab1.do(t, "p", `{"type":"ping","id":"p"}`)
	if n := len(tab1.ofType("unsubscribed")); n != 1 {
		t.Errorf("%d unsubscribed, want 1", n)
	}
	if r := tab1.do(t, "u", `{"type":"unsubscribe","id":"u","topic":"room.*"}`); r["type"] != "unsubscribed" {
		t.Errorf("the pattern tab1 still holds: %v", r)
	}
	if n := len(other.ofType("subscribed")); n != 0 {
		t.Errorf("another user got %d subscriptions", n)
	}
}

func TestControlRefusals(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	for c, code := range map[Control]Code{
		{Kind: ControlDisconnect}:                          CodeBadRequest,
		{Kind: ControlDisconnect, User: "1", Session: "2"}: CodeBadRequest,
		{Kind: ControlSubscribe, User: "1", Topic: "a..b"}: CodeInvalidTopic,
		{Kind: ControlUnsubscribe, User: "1", Topic: ""}:   CodeInvalidTopic,
		{Kind: ControlKind(9), User: "1", Topic: "a"}:      CodeBadRequest,
	} {
		if err := b.Control(t.Context(), c); CodeOf(err) != code {
			t.Errorf("%+v: %v, want %s", c, err, code)
		}
	}
	if len(e.pres.controls) != 0 {
		t.Errorf("refused controls reached the engine: %v", e.pres.controls)
	}
}

// Controls wait on the session's worker in a bounded queue: past it they
// are dropped, whatever a backend sends.
func TestControlQueueIsBounded(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: 10, MaxSubscriptions: 50})
	e.block = make(chan struct{})
	c := connect(t, b, user("42"))
	for i := range 1000 {
		b.HandleControl(Control{Kind: ControlSubscribe, User: "42", Topic: fmt.Sprint("t", i)})
	}
	c.s.mu.Lock()
	queued := c.s.queuedLocked()
	c.s.mu.Unlock()
	if bound := b.queueLimit + 50; queued > bound || queued < 50 {
		t.Errorf("%d controls queued, want at least the 50 a connection may hold and at most %d", queued, bound)
	}
	close(e.block)
	// The queued orders run; those past the subscriptions a connection
	// may have fail (logged), as a client's own would.
	c.waitFor(t, "the queued subscriptions", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 50
	})
}

func TestSubsClaim(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	info := ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"user:42.inbox", "news.*"}}
	c := connect(t, b, info)
	c.waitFor(t, "two subscriptions", func(msgs []map[string]any, _ int) bool { return len(c.ofTypeLocked(msgs, "subscribed")) == 2 })
	c.mu.Lock()
	order := []string{}
	for _, m := range c.msgs {
		order = append(order, fmt.Sprint(m["type"], " ", m["topic"], " ", m["server"]))
	}
	c.mu.Unlock()
	want := "[welcome <nil> <nil> subscribed user:42.inbox true subscribed news.* true]"
	if fmt.Sprint(order) != want {
		t.Errorf("got %v, want %s", order, want)
	}
}

func TestCheckClient(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 3})
	big := `{"a":"` + string(make([]byte, MaxInfoBytes)) + `"}`
	for _, bad := range []ClientInfo{
		{Subs: []string{"a", "b", "c", "d"}},
		{Subs: []string{"a", "b..c"}},
		{Info: []byte(big)},
		{Info: []byte(`[1]`)},
		{Subject: strings.Repeat("u", MaxUserBytes+1)},
	} {
		if err := b.CheckClient(bad); CodeOf(err) != CodeUnauthorized {
			t.Errorf("%.80v: %v", bad, err)
		}
	}
	if err := b.CheckClient(ClientInfo{Subject: strings.Repeat("u", MaxUserBytes), Subs: []string{"a", "b.*", "c.>"}, Info: []byte(`{}`)}); err != nil {
		t.Error(err)
	}
}

func TestCompactInfo(t *testing.T) {
	for raw, want := range map[string]string{
		"":                   "",
		"null":               "",
		` { "a" : [1, 2] } `: `{"a":[1,2]}`,
	} {
		got, err := CompactInfo([]byte(raw))
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", raw, got, err, want)
		}
	}
	pad := make([]byte, MaxInfoBytes)
	for i := range pad {
		pad[i] = ' '
	}
	fits := `{"a":"` + string(pad[:MaxInfoBytes-8]) + `"}`
	if got, err := CompactInfo([]byte(fits + string(pad))); err != nil || len(got) != MaxInfoBytes {
		t.Errorf("info of exactly %d bytes with spaces around: %d bytes, %v", MaxInfoBytes, len(got), err)
	}
	for _, bad := range []string{`"x"`, `[1]`, `{"a":`, `{"a":"` + string(pad[:MaxInfoBytes-7]) + `"}`} {
		if _, err := CompactInfo([]byte(bad)); err == nil {
			t.Errorf("%.40q accepted", bad)
		}
	}
}

// A subscription the server made stays the client's whatever its token
// allows: asking for it again is answered subscribed, and a refresh keeps it.
func TestServerSubscriptionOutlivesPermissions(t *testing.T) {
	locked := ClientInfo{Subject: "42", Perms: allowList{sub: []string{"chat.*"}}}
	b, _ := newTestBroker(t, Config{Tokens: tokensFunc(func(string) (ClientInfo, error) { return locked, nil })})
	info := locked
	info.Subs = []string{"user:42.inbox"}
	c := connect(t, b, info)
	c.waitFor(t, "the server subscription", func(msgs []map[string]any, _ int) bool { return len(c.ofTypeLocked(msgs, "subscribed")) == 1 })
	c.do(t, "chat", `{"type":"subscribe","id":"chat","topic":"chat.a"}`)
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"user:42.inbox"}`); r["type"] != "subscribed" {
		t.Errorf("subscribing again to a server subscription: %v", r)
	}
	if r := c.do(t, "2", `{"type":"subscribe","id":"2","topic":"user:43.inbox"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("a topic neither allowed nor held: %v", r)
	}
	locked.Perms = allowList{} // the new token allows nothing
	c.do(t, "3", `{"type":"refresh","id":"3","token":"t"}`)
	got := c.ofType("unsubscribed")
	if len(got) != 1 || got[0]["topic"] != "chat.a" || got[0]["reason"] != "forbidden" {
		t.Errorf("unsubscribed after the refresh: %v, want chat.a only", got)
	}
	if r := c.do(t, "4", `{"type":"unsubscribe","id":"4","topic":"user:42.inbox"}`); r["type"] != "unsubscribed" {
		t.Errorf("the server subscription after the refresh: %v", r)
	}
}

// A backend's subscribe that finds the engine unavailable is tried again
// until it goes through: the backend had its {}, and nobody else retries.
func TestControlSubscribeOutlivesAnEngineOutage(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, user("42"))
	e.mu.Lock()
	e.failPosition = Unavailable(errors.New("redis: no master yet"))
	e.mu.Unlock()
	if err := b.Control(t.Context(), Control{Kind: ControlSubscribe, User: "42", Topic: "user:42.notices"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several tries fail meanwhile
	if got := c.ofType("subscribed"); len(got) != 0 {
		t.Fatalf("subscribed while the engine was down: %v", got)
	}
	e.mu.Lock()
	e.failPosition = nil
	e.mu.Unlock()
	c.waitFor(t, "the server subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	if got := fmt.Sprint(c.ofType("subscribed")[0]); got != "map[epoch:e1 seq:0 server:true topic:user:42.notices type:subscribed]" {
		t.Errorf("announced as %s", got)
	}
}

// A backend's subscribe pausing between tries ends when its session
// closes, not when the pause would: the session's worker holds back its
// releases from the engine meanwhile, and Close waits for it.
func TestControlSubscribeRetryEndsWithTheSession(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	paused := make(chan struct{}, 1)
	b.pause = func(time.Duration) <-chan time.Time { // a pause only the session's close ends
		paused <- struct{}{}
		return nil
	}
	c := connect(t, b, user("42"))
	e.mu.Lock()
	e.failPosition = Unavailable(errors.New("redis: no master yet"))
	e.mu.Unlock()
	if err := b.Control(t.Context(), Control{Kind: ControlSubscribe, User: "42", Topic: "user:42.notices"}); err != nil {
		t.Fatal(err)
	}
	<-paused
	c.s.Disconnected()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close waited for the worker of a closed session: %v", err)
	}
}
