package broker

import (
	"context"
	"testing"
	"time"
)

// Backends' orders racing a subscribe that waits for the subscribe hook
// (docs/protocol.md sections 9 and 11): each keeps its place among the
// client's commands of the topic.

// gatedHook returns a hook that asks about room.*, answers accept once the
// returned gate is closed, and tells of each ask on asked.
func gatedHook(accept bool) (hook *askedHook, gate chan struct{}, asked chan string) {
	gate, asked = make(chan struct{}), make(chan string, 4)
	hook = &askedHook{asks: map[string]int{}, accept: map[string]bool{"room.1": accept}, gate: gate, asked: asked}
	return hook, gate, asked
}

func waitAsked(t *testing.T, asked chan string) {
	t.Helper()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook was never asked")
	}
}

// settled waits until the session's worker ran everything queued before
// a ping.
func (c *client) settled(t *testing.T) {
	t.Helper()
	c.do(t, "settled", `{"type":"ping","id":"settled"}`)
}

func (c *client) serverUnsubscribed(topic string) int {
	n := 0
	for _, m := range c.ofType("unsubscribed") {
		if m["topic"] == topic && m["reason"] == reasonServer && m["id"] == nil {
			n++
		}
	}
	return n
}

// A backend's unsubscribe that comes while the client's subscribe waits
// for the hook ends what that subscribe makes: the subscribe gets the
// hook's answer, a yes is followed by unsubscribed with reason server,
// and no message of the topic (here, the history a resume asks for)
// reaches the client between the two.
func TestServerUnsubscribeEndsSubscribeWaitingForTheHook(t *testing.T) {
	for _, accept := range []bool{true, false} {
		hook, gate, asked := gatedHook(accept)
		b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
		pub := connect(t, b, ClientInfo{})
		pub.do(t, "p", `{"type":"publish","id":"p","topic":"room.1","data":1}`)
		c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
		c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1","since":{"epoch":"e1","seq":0}}`))
		waitAsked(t, asked)
		b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
		close(gate)
		r := c.reply(t, "1")
		c.settled(t)
		if accept && (r["type"] != "subscribed" || c.serverUnsubscribed("room.1") != 1) {
			t.Errorf("hook says yes: reply %v, %d unsubscribed notices, want subscribed and 1", r, c.serverUnsubscribed("room.1"))
		}
		if !accept && (r["code"] != string(CodeForbidden) || c.serverUnsubscribed("room.1") != 0) {
			t.Errorf("hook says no: reply %v, %d unsubscribed notices, want forbidden and none", r, c.serverUnsubscribed("room.1"))
		}
		if n := len(c.ofType("message")); n != 0 {
			t.Errorf("accept %v: %d messages reached the client", accept, n)
		}
		if c.holds("room.1") || e.isActive("room.1") {
			t.Errorf("accept %v: still subscribed (session %v, engine %v)", accept, c.holds("room.1"), e.isActive("room.1"))
		}
	}
}

// A subscribe the client sends after the backend's unsubscribe is a new
// one: it outlives that unsubscribe, and the hook is asked about it.
func TestSubscribeSentAfterServerUnsubscribeIsANewOne(t *testing.T) {
	hook, gate, asked := gatedHook(true)
	b, _ := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1"}`))
	waitAsked(t, asked)
	b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
	close(gate)
	if r := c.reply(t, "2"); r["type"] != "subscribed" {
		t.Fatalf("the subscribe sent after: %v", r)
	}
	if r := c.reply(t, "1"); r["type"] != "subscribed" || c.serverUnsubscribed("room.1") != 1 {
		t.Errorf("the subscribe sent before: %v, %d unsubscribed notices, want 1", r, c.serverUnsubscribed("room.1"))
	}
	if !c.holds("room.1") || hook.asksOf("room.1") != 2 {
		t.Errorf("held %v, hook asked %d times; want held, asked twice", c.holds("room.1"), hook.asksOf("room.1"))
	}
}

// A backend's subscribe and unsubscribe of a topic whose subscribe waits
// for the hook apply in the order they came, after that subscribe: the
// connection ends with one subscription or none, as if the hook had
// answered at once.
func TestServerOrdersWaitBehindTheHook(t *testing.T) {
	cases := []struct {
		name   string
		orders []ControlKind
		accept bool
		held   bool
	}{
		{"subscribe, hook yes", []ControlKind{ControlSubscribe}, true, true},
		{"subscribe, hook no", []ControlKind{ControlSubscribe}, false, true},
		{"subscribe then unsubscribe", []ControlKind{ControlSubscribe, ControlUnsubscribe}, true, false},
		{"unsubscribe then subscribe", []ControlKind{ControlUnsubscribe, ControlSubscribe}, true, true},
	}
	for _, tc := range cases {
		hook, gate, asked := gatedHook(tc.accept)
		b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
		c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
		c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1"}`))
		waitAsked(t, asked)
		for _, kind := range tc.orders {
			b.HandleControl(Control{Kind: kind, Session: c.s.ID(), Topic: "room.1"})
		}
		close(gate)
		c.reply(t, "1")
		c.settled(t)
		c.s.mu.Lock()
		nsubs := c.s.nsubs
		c.s.mu.Unlock()
		want := int32(0)
		if tc.held {
			want = 1
		}
		if nsubs != want || c.holds("room.1") != tc.held || e.isActive("room.1") != tc.held {
			t.Errorf("%s: %d subscriptions (room.1 held %v, in the engine %v); want %d", tc.name,
				nsubs, c.holds("room.1"), e.isActive("room.1"), want)
		}
		if n := len(c.ofType("subscribed")); n < 2 && tc.accept {
			t.Errorf("%s: %d subscribed frames, want the client's and the backend's", tc.name, n)
		}
	}
}

// A backend's disconnect while a subscribe waits for the hook closes the
// connection with 4004, and the hook's yes leaves nothing subscribed,
// whether it comes before the socket is gone or after.
func TestServerDisconnectWhileTheHookWaits(t *testing.T) {
	for _, answerFirst := range []bool{false, true} {
		hook, gate, asked := gatedHook(true)
		b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
		c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
		c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1"}`))
		waitAsked(t, asked)
		b.HandleControl(Control{Kind: ControlDisconnect, Session: c.s.ID()})
		if code := c.code(); code != CloseDisconnected {
			t.Fatalf("closed with %d, want %d", code, CloseDisconnected)
		}
		if answerFirst { // the connection takes no frame after its close
			close(gate)
			for deadline := time.Now().Add(10 * time.Second); !e.isActive("room.1"); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the hook's yes never subscribed")
				}
			}
			c.s.Disconnected()
		} else {
			c.s.Disconnected()
			close(gate)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.Close(ctx); err != nil { // waits for the hook and the worker
			t.Fatal(err)
		}
		cancel()
		if c.holds("room.1") || e.isActive("room.1") {
			t.Errorf("answer first %v: still subscribed (session %v, engine %v)", answerFirst, c.holds("room.1"), e.isActive("room.1"))
		}
	}
}

// The same when the subscribe asks the hook only as it runs, an
// unsubscribe queued ahead of it having ended the topic's subscription
// (hookAfterAll): the backend's unsubscribe queued after it waits for it.
func TestServerUnsubscribeQueuedBehindALateHook(t *testing.T) {
	b, c, gate, asked, release := subscribedBusy(t)
	c.s.HandleText([]byte(`{"type":"unsubscribe","id":"u","topic":"room.1"}`))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
	b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
	release()
	waitAsked(t, asked)
	close(gate)
	if r := c.reply(t, "2"); r["type"] != "subscribed" {
		t.Errorf("subscribe: %v", r)
	}
	c.settled(t)
	if c.holds("room.1") || c.serverUnsubscribed("room.1") != 1 {
		t.Errorf("held %v, %d unsubscribed notices; want not held, 1", c.holds("room.1"), c.serverUnsubscribed("room.1"))
	}
}

// Without the hook too, a subscribe still queued when a backend's
// unsubscribe of its topic comes never goes live: no history reaches the
// client before the unsubscribed.
func TestServerUnsubscribeEndsQueuedSubscribe(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: -1})
	c := connect(t, b, ClientInfo{})
	c.do(t, "p", `{"type":"publish","id":"p","topic":"room.1","data":1}`)
	release := busyWorker(t, c, e)
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1","since":{"epoch":"e1","seq":0}}`))
	b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
	release()
	if r := c.reply(t, "1"); r["type"] != "subscribed" {
		t.Errorf("subscribe: %v", r)
	}
	c.settled(t)
	if n, u := len(c.ofType("message")), c.serverUnsubscribed("room.1"); n != 0 || u != 1 || c.holds("room.1") {
		t.Errorf("%d messages, %d unsubscribed notices, held %v; want none, 1, not held", n, u, c.holds("room.1"))
	}
}

// A subscribe queued behind an unsubscribe of its topic keeps its place
// ahead of the commands sent after it, even when the unsubscribe has
// ended the subscription before they come: here the client's subscribe
// 3 and a backend's unsubscribe come while the worker ends room.1 for
// unsubscribe u, with subscribe 2 queued. Subscribe 2 came first, so the
// backend's unsubscribe, which came last, leaves nothing subscribed.
func TestSubscribeQueuedBehindAnUnsubscribeKeepsItsPlace(t *testing.T) {
	hook := &askedHook{asks: map[string]int{}, accept: map[string]bool{"room.1": true}}
	b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{sub: []string{"busy"}}})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	gate := make(chan struct{})
	hook.set(func(h *askedHook) { h.gate = gate })
	release := busyWorker(t, c, e)
	c.s.HandleText([]byte(`{"type":"unsubscribe","id":"u","topic":"room.1"}`))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
	unblock, unsubscribing := make(chan struct{}), make(chan string, 1)
	e.mu.Lock()
	e.blockUnsub, e.unsubscribing = unblock, unsubscribing
	e.mu.Unlock()
	release()
	if p := <-unsubscribing; p != "room.1" {
		t.Fatalf("the engine unsubscribed %q, want room.1", p)
	}
	c.s.HandleText([]byte(`{"type":"subscribe","id":"3","topic":"room.1"}`))
	b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
	e.mu.Lock()
	e.blockUnsub, e.unsubscribing = nil, nil
	e.mu.Unlock()
	close(unblock)
	// Once subscribe 2 ran, all three wait for the hook.
	for deadline := time.Now().Add(10 * time.Second); c.heldOf("room.1") != 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d commands of room.1 wait for the hook, want 3", c.heldOf("room.1"))
		}
	}
	close(gate)
	for _, id := range []string{"u", "2", "3"} {
		if r := c.reply(t, id); r["type"] == "error" {
			t.Errorf("command %s: %v", id, r)
		}
	}
	c.settled(t)
	if c.holds("room.1") || e.isActive("room.1") || c.serverUnsubscribed("room.1") != 1 {
		t.Errorf("held %v (engine %v), %d unsubscribed notices; want not held, 1",
			c.holds("room.1"), e.isActive("room.1"), c.serverUnsubscribed("room.1"))
	}
}

func (c *client) heldOf(topic string) int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return len(c.s.pendingLocked()[topic])
}
