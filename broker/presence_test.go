package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// presenceBroker keeps presence on room.* and on lobby.
func presenceBroker(t *testing.T) (*Broker, *fakeEngine) {
	return newTestBroker(t, Config{PresenceTopics: []string{"room.*", "lobby"}})
}

func user(name string) ClientInfo {
	return ClientInfo{Subject: name, Info: []byte(`{"name":"` + name + `"}`)}
}

// changes returns the join and leave frames c got, as "join 42" or
// "leave 42", in order.
func (c *client) changes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m["type"] == "join" || m["type"] == "leave" {
			out = append(out, fmt.Sprintf("%s %s", m["type"], m["user"]))
		}
	}
	return out
}

func (c *client) waitChanges(t *testing.T, n int) []string {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("%d joins and leaves", n), func(msgs []map[string]any, _ int) bool {
		k := 0
		for _, m := range msgs {
			if m["type"] == "join" || m["type"] == "leave" {
				k++
			}
		}
		return k >= n
	})
	return c.changes()
}

func TestPresenceJoinAndLeaveAreRoutedToOthers(t *testing.T) {
	b, e := presenceBroker(t)
	watcher := connect(t, b, user("1"))
	if r := watcher.do(t, "w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
		t.Fatalf("%v", r)
	}
	tab1, tab2 := connect(t, b, user("2")), connect(t, b, user("2"))
	if r := tab1.do(t, "a", `{"type":"subscribe","id":"a","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
		t.Fatalf("%v", r)
	}
	tab2.do(t, "b", `{"type":"subscribe","id":"b","topic":"room.1","presence":true}`)
	anon := connect(t, b, ClientInfo{})
	anon.do(t, "c", `{"type":"subscribe","id":"c","topic":"room.1"}`)
	if got := watcher.waitChanges(t, 1); len(got) != 1 || got[0] != "join 2" {
		t.Fatalf("watcher got %v, want one join of 2", got)
	}
	if j := watcher.ofType("join")[0]; j["topic"] != "room.1" || j["info"].(map[string]any)["name"] != "2" {
		t.Errorf("join = %v", j)
	}
	if n := e.presentSessions("room.1"); n != 4 {
		t.Errorf("%d entries, want 4: every exact subscription, the anonymous one too", n)
	}

	tab1.do(t, "u", `{"type":"unsubscribe","id":"u","topic":"room.1"}`)
	tab2.s.Disconnected()
	got := watcher.waitChanges(t, 2)
	if len(got) != 2 || got[1] != "leave 2" {
		t.Fatalf("watcher got %v, want join 2, leave 2", got)
	}
	if l := watcher.ofType("leave")[0]; len(l) != 3 || l["topic"] != "room.1" {
		t.Errorf("leave = %v, want type, topic and user only", l)
	}
	// The session that caused them saw neither; the other tab saw no
	// join of its own user, and nobody saw the anonymous session.
	if got := tab1.changes(); len(got) != 0 {
		t.Errorf("the joining tab got %v", got)
	}
	if got := tab2.changes(); len(got) != 0 {
		t.Errorf("the second tab got %v", got)
	}
	anon.s.Disconnected()
	watcher.do(t, "p", `{"type":"ping","id":"p"}`)
	if got := watcher.changes(); len(got) != 2 {
		t.Errorf("watcher got %v after the anonymous session left", got)
	}
	waitEntries(t, e, "room.1", 1)
}

// waitEntries waits up to 10 seconds for the engine to hold n entries on
// topic: a disconnect releases them on the session's worker.
func waitEntries(t *testing.T, e *fakeEngine, topic string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.presentSessions(topic) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries on %s, want %d", e.presentSessions(topic), topic, n)
		}
	}
}

func TestPresenceNeedsPresenceFlag(t *testing.T) {
	b, _ := presenceBroker(t)
	plain := connect(t, b, user("1"))
	plain.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	other := connect(t, b, user("2"))
	other.do(t, "2", `{"type":"subscribe","id":"2","topic":"room.1"}`)
	plain.do(t, "p", `{"type":"ping","id":"p"}`)
	if got := plain.changes(); len(got) != 0 {
		t.Fatalf("a subscription without presence:true got %v", got)
	}
	// Asking again turns it on.
	plain.do(t, "3", `{"type":"subscribe","id":"3","topic":"room.1","presence":true}`)
	third := connect(t, b, user("3"))
	third.do(t, "4", `{"type":"subscribe","id":"4","topic":"room.1"}`)
	if got := plain.waitChanges(t, 1); got[0] != "join 3" {
		t.Errorf("got %v", got)
	}
}

func TestPresenceOff(t *testing.T) {
	b, e := presenceBroker(t)
	c := connect(t, b, user("1"))
	for _, topic := range []string{"room.*", "room.>", "news", "room.1.x"} {
		r := c.do(t, topic, `{"type":"subscribe","id":"%s","topic":"%s","presence":true}`, topic, topic)
		if r["code"] != string(CodePresenceOff) {
			t.Errorf("subscribe %s with presence: %v", topic, r)
		}
		if e.isActive(topic) {
			t.Errorf("%s was subscribed", topic)
		}
	}
	if s := b.Stats(); s.Subscriptions != 0 {
		t.Errorf("%d subscriptions after presence_off", s.Subscriptions)
	}
	// Without presence:true these subscribe, and keep no presence.
	c.do(t, "n", `{"type":"subscribe","id":"n","topic":"news"}`)
	c.do(t, "p", `{"type":"subscribe","id":"p","topic":"room.*"}`)
	if n := e.presentSessions("news") + e.presentSessions("room.*"); n != 0 {
		t.Errorf("%d presence entries for a non-presence topic and a pattern", n)
	}
	// presence:false, or a field of the wrong type where it is not defined, is no request.
	if r := c.do(t, "f", `{"type":"subscribe","id":"f","topic":"other","presence":false}`); r["type"] != "subscribed" {
		t.Errorf("%v", r)
	}
	if r := c.do(t, "w", `{"type":"subscribe","id":"w","topic":"lobby","presence":"yes"}`); r["code"] != string(CodeBadRequest) {
		t.Errorf("presence of the wrong type: %v", r)
	}
	if r := c.do(t, "x", `{"type":"unsubscribe","id":"x","topic":"news","presence":"yes"}`); r["type"] != "unsubscribed" {
		t.Errorf("a field unsubscribe does not define: %v", r)
	}
}

func TestPresenceCommand(t *testing.T) {
	b, _ := presenceBroker(t)
	for _, info := range []ClientInfo{user("42"), user("42"), {Subject: "43"}, {}} {
		c := connect(t, b, info)
		c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	}
	asker := connect(t, b, ClientInfo{Subject: "9", Perms: allowList{sub: []string{"room.1", "lobby", "news"}}})
	r := asker.do(t, "7", `{"type":"presence","id":"7","topic":"room.1","extra":[1]}`)
	want := `map[id:7 members:[map[info:map[name:42] sessions:2 user:42] map[sessions:1 user:43]] sessions:4 topic:room.1 type:presence users:2]`
	if got := fmt.Sprint(r); got != want {
		t.Errorf("presence =\n%s\nwant\n%s", got, want)
	}
	if r := asker.do(t, "e", `{"type":"presence","id":"e","topic":"lobby"}`); fmt.Sprint(r["members"]) != "[]" || num(t, r["users"]) != 0 {
		t.Errorf("empty presence = %v", r)
	}
	for topic, code := range map[string]Code{
		"room.2": CodeForbidden, "room.*": CodeInvalidTopic, "news": CodePresenceOff, "": CodeInvalidTopic,
	} {
		if r := asker.do(t, "x"+topic, `{"type":"presence","id":"x%s","topic":"%s"}`, topic, topic); r["code"] != string(code) {
			t.Errorf("presence of %q: %v, want %s", topic, r, code)
		}
	}
	if r := asker.do(t, "m", `{"type":"presence","id":"m"}`); r["code"] != string(CodeBadRequest) {
		t.Errorf("presence without topic: %v", r)
	}
	if r := asker.do(t, "sub", `{"type":"subscribe","id":"sub","topic":"room.2","presence":true}`); r["code"] != string(CodeForbidden) {
		t.Errorf("presence:true on a forbidden topic: %v", r)
	}
}

// Joins and leaves of one user alternate however its sessions come and
// go, and what a watcher saw last matches who is there.
func TestPresenceAlternates(t *testing.T) {
	b, e := presenceBroker(t)
	watcher := connect(t, b, user("w"))
	watcher.do(t, "w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`)
	r := rand.New(rand.NewPCG(1, 2))
	var sessions []*client
	for i := range 6 {
		sessions = append(sessions, connect(t, b, user(fmt.Sprint(i%3))))
	}
	subscribed := make([]bool, len(sessions))
	for step := range 200 {
		i := r.IntN(len(sessions))
		id := fmt.Sprint(step)
		if subscribed[i] {
			sessions[i].do(t, id, `{"type":"unsubscribe","id":"%s","topic":"room.1"}`, id)
		} else {
			sessions[i].do(t, id, `{"type":"subscribe","id":"%s","topic":"room.1","presence":true}`, id)
		}
		subscribed[i] = !subscribed[i]
	}
	watcher.do(t, "p", `{"type":"ping","id":"p"}`)
	if n := len(watcher.changes()); n < 10 {
		t.Fatalf("the watcher saw %d changes in 200 steps", n)
	}
	last := map[string]string{}
	for _, ch := range watcher.changes() {
		var kind, u string
		fmt.Sscan(ch, &kind, &u)
		if last[u] == kind || last[u] == "" && kind == "leave" {
			t.Fatalf("%s after %q for user %s: %v", kind, last[u], u, watcher.changes())
		}
		last[u] = kind
	}
	st, _ := e.Presence(t.Context(), "room.1", PresencePage{MaxBytes: DefaultMaxPresenceBytes})
	present := map[string]bool{}
	for _, m := range st.Members {
		present[m.User] = true
	}
	for u := range 3 {
		name := fmt.Sprint(u)
		if present[name] != (last[name] == "join") {
			t.Errorf("user %s present %v, watcher's last change %q", name, present[name], last[name])
		}
	}
}

// hookOn asks about topics under its pattern, its yes standing in for the
// permissions, and accepts only the topics it lists.
type hookOn struct {
	pattern string
	accept  map[string]bool
}

func (h hookOn) Asks(p string) (bool, bool) { return Covers(h.pattern, p), Covers(h.pattern, p) }
func (h hookOn) AuthorizeSubscribe(_ context.Context, r SubscribeRequest) error {
	if h.accept[r.Topic] {
		return nil
	}
	return Errorf(CodeForbidden, "no")
}

// Under the subscribe hook a client may ask who is on a topic only while
// it holds a subscription to it.
func TestPresenceUnderTheSubscribeHook(t *testing.T) {
	b, _ := newTestBroker(t, Config{PresenceTopics: []string{"room.*"},
		Subscribe: hookOn{pattern: "room.*", accept: map[string]bool{"room.1": true}}})
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
	if r := c.do(t, "1", `{"type":"presence","id":"1","topic":"room.1"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("before subscribing: %v", r)
	}
	if r := c.do(t, "2", `{"type":"subscribe","id":"2","topic":"room.1"}`); r["type"] != "subscribed" {
		t.Fatalf("the hook's yes: %v", r)
	}
	if r := c.do(t, "3", `{"type":"presence","id":"3","topic":"room.1"}`); r["type"] != "presence" || num(t, r["sessions"]) != 1 {
		t.Errorf("while subscribed: %v", r)
	}
	if r := c.do(t, "4", `{"type":"presence","id":"4","topic":"room.2"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("another topic: %v", r)
	}
	c.do(t, "5", `{"type":"unsubscribe","id":"5","topic":"room.1"}`)
	if r := c.do(t, "6", `{"type":"presence","id":"6","topic":"room.1"}`); r["code"] != string(CodeForbidden) {
		t.Errorf("after unsubscribing: %v", r)
	}
}

// BenchmarkPresenceReply encodes the answer for a topic of 10,000 members,
// each with a small info: the broker's share of a presence command.
func BenchmarkPresenceReply(b *testing.B) {
	st := PresenceState{Sessions: 12000}
	for i := range 10000 {
		st.Members = append(st.Members, Member{User: fmt.Sprint("user-", i), Sessions: 1 + i%2,
			Info: []byte(`{"name":"` + fmt.Sprint("User ", i) + `"}`)})
	}
	b.ReportAllocs()
	for b.Loop() {
		AppendPresenceJSON(make([]byte, 0, presenceSize(st)), "room.1", st)
	}
}
