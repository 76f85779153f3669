package broker

import "testing"

// The client's commands held behind a subscribe that waits for the hook
// do not count against the backend's orders: with as many of them held
// as the orders' bound, a backend's unsubscribe still gets its place, and
// only the backend's own orders past that bound are dropped.
func TestHeldClientCommandsLeaveRoomForServerOrders(t *testing.T) {
	hook, gate, asked := gatedHook(true)
	defer close(gate)
	b, _ := newTestBroker(t, Config{RateLimit: -1, MaxSubscriptions: 2, Subscribe: hook})
	b.queueLimit = 4
	bound := b.queueLimit + b.cfg.MaxSubscriptions
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{}})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1"}`))
	waitAsked(t, asked)
	for i := range maxHeldPerTopic {
		typ := "subscribe"
		if i%2 == 0 {
			typ = "unsubscribe"
		}
		c.s.HandleText([]byte(`{"type":"` + typ + `","topic":"room.1"}`))
	}
	if n := c.heldOf("room.1"); n < bound {
		t.Fatalf("%d client commands held, want at least %d", n, bound)
	}
	accepted := 0
	for range bound + 1 {
		if c.s.enqueueServer(ControlUnsubscribe, []string{"room.1"}) {
			accepted++
		}
	}
	if accepted != bound {
		t.Errorf("%d backend orders taken, want %d", accepted, bound)
	}
}

// A subscribe that a backend's unsubscribe waits to end never goes live,
// and never joins its topic's presence either: the other members see no
// join and leave of it.
func TestServerUnsubscribeAheadSkipsThePresenceJoin(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: -1, PresenceTopics: []string{"room.*"}})
	w := connect(t, b, ClientInfo{})
	w.do(t, "w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`)
	c := connect(t, b, user("2"))
	release := busyWorker(t, c, e)
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1"}`))
	b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
	release()
	if r := c.reply(t, "1"); r["type"] != "subscribed" {
		t.Fatalf("subscribe: %v", r)
	}
	c.settled(t)
	if c.holds("room.1") || c.serverUnsubscribed("room.1") != 1 {
		t.Errorf("held %v, %d unsubscribed notices; want not held, 1", c.holds("room.1"), c.serverUnsubscribed("room.1"))
	}
	connect(t, b, user("3")).do(t, "3", `{"type":"subscribe","id":"3","topic":"room.1"}`)
	if got := w.waitChanges(t, 1); len(got) != 1 || got[0] != "join 3" {
		t.Errorf("the other member saw %v, want only [join 3]", got)
	}
}
