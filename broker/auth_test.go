package broker

import (
	"errors"
	"testing"
	"time"
)

// allowList grants the patterns a subscription or publish must fall under.
type allowList struct{ sub, pub []string }

func (a allowList) CanSubscribe(p string) bool { return coveredByAny(a.sub, p) }
func (a allowList) CanPublish(t string) bool   { return coveredByAny(a.pub, t) }

func coveredByAny(allowed []string, p string) bool {
	for _, a := range allowed {
		if Covers(a, p) {
			return true
		}
	}
	return false
}

func TestPermissions(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	perms := allowList{sub: []string{"chat.*", "user:42.>"}, pub: []string{"chat.*"}}
	c := connect(t, b, ClientInfo{Subject: "u42", Perms: perms})
	for _, p := range []string{"chat.*", "chat.a", "user:42.inbox", "user:42.*.x", "user:42.>"} {
		if r := c.do(t, p, `{"type":"subscribe","id":"%s","topic":"%s"}`, p, p); r["type"] != "subscribed" {
			t.Errorf("subscribe %s: %v", p, r)
		}
	}
	for _, p := range []string{"chat.>", ">", "*.a", "chat", "user:43.inbox", "chat.a.b"} {
		if r := c.do(t, p, `{"type":"subscribe","id":"%s","topic":"%s"}`, p, p); r["code"] != string(CodeForbidden) {
			t.Errorf("subscribe %s: %v", p, r)
		}
		if e.isActive(p) {
			t.Errorf("forbidden %s reached the engine", p)
		}
	}
	if r := c.do(t, "p1", `{"type":"publish","id":"p1","topic":"chat.a","data":1}`); r["type"] != "published" {
		t.Errorf("%v", r)
	}
	if r := c.do(t, "p2", `{"type":"publish","id":"p2","topic":"user:42.inbox","data":1}`); r["code"] != string(CodeForbidden) {
		t.Errorf("%v", r)
	}
	if s := b.Stats(); s.Subscriptions != 5 || s.MessagesIn != 1 {
		t.Errorf("refusals changed something: %+v", s)
	}
}

func TestEmptyPermissionsAllowNothing(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{Subject: "x", Perms: allowList{}})
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"a"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("%v", r)
	}
	if r := c.do(t, "2", `{"type":"publish","id":"2","topic":"a","data":1}`); r["code"] != string(CodeForbidden) {
		t.Errorf("%v", r)
	}
}

// tokens maps a token to what it grants.
type tokens map[string]ClientInfo

func (v tokens) Verify(token string) (ClientInfo, error) {
	info, ok := v[token]
	if !ok {
		return ClientInfo{}, errors.New("bad signature")
	}
	return info, nil
}

func TestRefresh(t *testing.T) {
	wide := allowList{sub: []string{">"}, pub: []string{">"}}
	v := tokens{
		"wide":    {Subject: "u1", Perms: wide},
		"someone": {Subject: "u2", Perms: wide},
		"expired": {Subject: "u1", Perms: wide, Expires: time.Now().Add(-time.Second)},
	}
	b, _ := newTestBroker(t, Config{Tokens: v})
	c := connect(t, b, ClientInfo{Subject: "u1", Perms: allowList{}, Expires: time.Now().Add(time.Hour)})
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"a"}`); r["code"] != string(CodeForbidden) {
		t.Fatalf("%v", r)
	}
	for _, tok := range []string{"forged", "someone"} {
		if r := c.do(t, tok, `{"type":"refresh","id":"%s","token":"%s"}`, tok, tok); r["code"] != string(CodeUnauthorized) {
			t.Errorf("refresh with %s: %v", tok, r)
		}
	}
	if r := c.do(t, "2", `{"type":"subscribe","id":"2","topic":"a"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("a refused refresh changed the permissions: %v", r)
	}
	if r := c.do(t, "3", `{"type":"refresh","id":"3","token":"wide"}`); r["type"] != "refreshed" {
		t.Fatalf("%v", r)
	}
	if r := c.do(t, "4", `{"type":"subscribe","id":"4","topic":"a"}`); r["type"] != "subscribed" {
		t.Errorf("the refreshed permissions are not used: %v", r)
	}
	if b.expiries.pending(c.s) {
		t.Error("a token without expiry left the old expiry timer running")
	}
	// A token whose expiry has passed (a verifier would normally refuse it)
	// shows that refresh resets the timer: the connection closes at once.
	c.s.HandleText([]byte(`{"type":"refresh","id":"5","token":"expired"}`))
	c.waitFor(t, "close 4001", func(_ []map[string]any, code int) bool { return code != 0 })
	if c.code() != CloseTokenExpired {
		t.Errorf("close %d, want %d", c.code(), CloseTokenExpired)
	}
}

func TestRefreshWithoutVerifier(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "1", `{"type":"refresh","id":"1","token":"anything"}`); r["type"] != "refreshed" {
		t.Errorf("%v", r)
	}
}

func TestTokenExpiryCloses4001(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{Subject: "u", Expires: time.Now().Add(20 * time.Millisecond)})
	c.waitFor(t, "close", func(_ []map[string]any, code int) bool { return code != 0 })
	if c.code() != CloseTokenExpired {
		t.Errorf("close %d", c.code())
	}
}

func TestDisconnectStopsExpiry(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{Subject: "u", Expires: time.Now().Add(time.Hour)})
	c.s.Disconnected()
	c.s.Disconnected() // a second call does nothing
	if b.expiries.pending(c.s) {
		t.Error("expiry timer still set after Disconnected")
	}
	if n := b.Stats().Connections; n != 0 {
		t.Errorf("%d connections", n)
	}
}
