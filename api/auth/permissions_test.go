package auth

import (
	"errors"
	"testing"
)

func TestPermissionsContainment(t *testing.T) {
	p, err := NewPermissions([]string{"chat.>", "user:42.*", "news"}, []string{"chat.*", "user:42.inbox"})
	if err != nil {
		t.Fatal(err)
	}
	subscribe := []struct {
		pattern string
		want    bool
	}{
		{"chat.a", true},
		{"chat.*", true},
		{"chat.a.b", true},
		{"chat.*.>", true},
		{"chat.>", true},
		{">", false},    // reaches beyond chat
		{"*.x", false},  // its first token may be anything
		{"chat", false}, // chat.> needs at least one more token
		{"user:42.inbox", true},
		{"user:42.*", true},
		{"user:42.>", false}, // user:42.* is one token deep only
		{"user:42.a.b", false},
		{"news", true},
		{"news.x", false},
		{"*", false},
		{"chat..a", false}, // not a pattern at all
		{"", false},
	}
	for _, c := range subscribe {
		if got := p.CanSubscribe(c.pattern); got != c.want {
			t.Errorf("CanSubscribe(%q) = %v, want %v", c.pattern, got, c.want)
		}
	}
	publish := []struct {
		topic string
		want  bool
	}{
		{"chat.a", true},
		{"chat.a.b", false},
		{"chat", false},
		{"user:42.inbox", true},
		{"user:43.inbox", false},
		{"chat.*", false}, // a publish names a concrete topic
		{"chat.>", false},
		{"", false},
	}
	for _, c := range publish {
		if got := p.CanPublish(c.topic); got != c.want {
			t.Errorf("CanPublish(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
}

func TestSubscribeUnderAllowedOnlyNotUnderAll(t *testing.T) {
	// chat.* allows chat.a but never *.x, which also matches news.x.
	p, err := NewPermissions([]string{"chat.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.CanSubscribe("*.x") || !p.CanSubscribe("chat.x") || p.CanPublish("chat.x") {
		t.Error("chat.* must allow subscribing to chat.x only, and no publish")
	}
}

// A pattern is allowed when every topic it matches is, even when no one
// allowed pattern covers it all (docs/protocol.md section 5).
func TestSubscribeUnderSeveralAllowedTogether(t *testing.T) {
	cases := []struct {
		allow   []string
		pattern string
		want    bool
	}{
		{[]string{"chat.*", "chat.*.>"}, "chat.>", true},
		{[]string{"*", "*.>"}, ">", true},
		{[]string{"a.*", "a.*.*", "a.*.*.>"}, "a.>", true},
		{[]string{"a.*", "a.*.*", "a.*.*.>"}, "a.*.>", true},
		{[]string{"a.*", "a.*.*.>"}, "a.>", false}, // a.x.y is not allowed
		{[]string{"a.*", "a.*.*"}, "a.>", false},   // nor is a.x.y.z
		{[]string{"a.b", "a.*.>"}, "a.>", false},   // nor a.c
		{[]string{"*", "*.>"}, "*.>", true},
		{[]string{"x.*", "*.>"}, ">", false}, // y is not allowed
		{[]string{"a.*", "b.*.>"}, "a.>", false},
	}
	for _, c := range cases {
		p, err := NewPermissions(c.allow, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.CanSubscribe(c.pattern); got != c.want {
			t.Errorf("allow %q: CanSubscribe(%q) = %v, want %v", c.allow, c.pattern, got, c.want)
		}
	}
}

func TestNoPermissions(t *testing.T) {
	var nilPerms *Permissions
	for _, p := range []*Permissions{nilPerms, {}} {
		if p.CanSubscribe("chat.a") || p.CanPublish("chat.a") || p.CanSubscribe(">") {
			t.Errorf("%#v allows something", p)
		}
	}
}

func TestNewPermissionsRefusesInvalidPatterns(t *testing.T) {
	for _, c := range []struct{ sub, pub []string }{
		{[]string{"chat.>", "a..b"}, nil},
		{nil, []string{">.x"}},
		{[]string{"sp ace"}, nil},
		{nil, []string{""}},
	} {
		if _, err := NewPermissions(c.sub, c.pub); !errors.Is(err, ErrBadAllow) {
			t.Errorf("NewPermissions(%q, %q) = %v, want ErrBadAllow", c.sub, c.pub, err)
		}
	}
}

func TestNewPermissionsCopies(t *testing.T) {
	sub := []string{"chat.a"}
	p, err := NewPermissions(sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub[0] = ">"
	if p.CanSubscribe("news") {
		t.Error("changing the caller's slice changed the permissions")
	}
}

// Permissions with one subscribe list allow the same subscriptions,
// whatever their publish lists, so a refresh between them checks none;
// another list, the same in another order, or none at all is not told
// to be the same.
func TestSameSubscribe(t *testing.T) {
	mk := func(sub, pub []string) *Permissions {
		t.Helper()
		p, err := NewPermissions(sub, pub)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := mk([]string{"room.*", "user:42.>"}, nil)
	if !p.SameSubscribe(mk([]string{"room.*", "user:42.>"}, []string{"room.*"})) {
		t.Error("the same subscribe list is not the same")
	}
	for _, other := range []*Permissions{
		mk([]string{"room.*"}, nil),
		mk([]string{"user:42.>", "room.*"}, nil),
		mk(nil, nil),
		nil,
	} {
		if p.SameSubscribe(other) {
			t.Errorf("%v is the same as %v", other, p)
		}
	}
	if p.SameSubscribe(nil) || (*Permissions)(nil).SameSubscribe(p) {
		t.Error("nil permissions are told to be the same as others")
	}
}
