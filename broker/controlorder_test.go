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
