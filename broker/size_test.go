package broker

import (
	"strings"
	"testing"
	"unsafe"
)

// TestIdleSessionIsSmall guards the cost of an idle connection: a session
// stays within the 128-byte size class of the Go allocator and a
// subscription within the 112-byte one (runtime/sizeclasses.go: 96, 112,
// 128, 144). The session filled its 112 bytes before it kept its
// address's command budget (ClientInfo.Pacer). What only some sessions
// need lives behind a pointer that is nil otherwise (Session).
func TestIdleSessionIsSmall(t *testing.T) {
	const sessionClass, subClass = 128, 112
	session, sub := unsafe.Sizeof(Session{}), unsafe.Sizeof(subscription{})
	if session > sessionClass || sub > subClass {
		t.Errorf("session %d bytes, subscription %d bytes: want at most %d and %d", session, sub, sessionClass, subClass)
	}
	t.Logf("session %d bytes, subscription %d bytes", session, sub)
}

// Subscriptions to one topic share its name and epoch with the index
// instead of keeping a copy each: the name unquoted from each command and
// the epoch of each engine answer are garbage once the subscription is
// live. The subscribed reply goes out before the subscription goes live
// (and takes the shared epoch), so each client is settled before the next
// subscribes and before its subscription is read.
func TestSubscriptionsShareTopicAndEpoch(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	var subs []*subscription
	for i := range 2 {
		e.mu.Lock()
		e.topic("room.1").epoch = strings.Clone("epoch-1") // a fresh string per answer, as engines give
		e.mu.Unlock()
		c := connect(t, b, ClientInfo{})
		if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`); r["type"] != "subscribed" {
			t.Fatalf("subscribe %d: %v", i, r)
		}
		settle(t, c)
		c.s.mu.Lock()
		subs = append(subs, c.s.subs)
		c.s.mu.Unlock()
	}
	a, z := subs[0], subs[1]
	if unsafe.StringData(a.pattern) != unsafe.StringData(z.pattern) {
		t.Error("two subscriptions to room.1 keep a copy of its name each")
	}
	a.mu.Lock()
	z.mu.Lock()
	defer a.mu.Unlock()
	defer z.mu.Unlock()
	if a.last.epoch != "epoch-1" || unsafe.StringData(a.last.epoch) != unsafe.StringData(z.last.epoch) ||
		unsafe.StringData(a.start.Epoch) != unsafe.StringData(z.start.Epoch) {
		t.Errorf("epochs %q and %q are not one string", a.last.epoch, z.last.epoch)
	}
}
