package broker

import (
	"context"
	"sync"
	"testing"
	"time"
)

// askedHook asks about topics under room.*, its yes standing in for the
// permissions; it counts the asks per topic and answers from accept,
// after gate closes when gate is set.
type askedHook struct {
	mu     sync.Mutex
	asks   map[string]int
	accept map[string]bool
	gate   chan struct{}
	asked  chan string // told of each ask, when set
}

func (h *askedHook) Asks(p string) (bool, bool) { return Covers("room.*", p), Covers("room.*", p) }
func (h *askedHook) AuthorizeSubscribe(ctx context.Context, r SubscribeRequest) error {
	h.mu.Lock()
	h.asks[r.Topic]++
	ok, gate, asked := h.accept[r.Topic], h.gate, h.asked
	h.mu.Unlock()
	if asked != nil {
		asked <- r.Topic
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ok {
		return nil
	}
	return Errorf(CodeForbidden, "no")
}

func (h *askedHook) set(f func(h *askedHook)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *askedHook) asksOf(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asks[topic]
}

// busyWorker holds the session's worker in an engine subscribe until the
// returned func is called.
func busyWorker(t *testing.T, c *client, e *fakeEngine) func() {
	t.Helper()
	block := make(chan struct{})
	e.mu.Lock()
	e.block = block
	e.mu.Unlock()
	c.s.HandleText([]byte(`{"type":"subscribe","id":"busy","topic":"busy"}`))
	return func() {
		e.mu.Lock()
		e.block = nil
		e.mu.Unlock()
		close(block)
		if r := c.reply(t, "busy"); r["type"] != "subscribed" {
			t.Errorf("the subscribe keeping the worker busy: %v", r)
		}
	}
}

func (c *client) holds(topic string) bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.findLocked(topic) != nil
}

// A subscribe sent while its topic is held skips the hook, but when an
// unsubscribe queued ahead of it (the client's or a backend's) ends that
// subscription first, it is asked after all: a refusal leaves nothing
// subscribed, a yes subscribes.
func TestSubscribeAfterQueuedUnsubscribeAsksTheHook(t *testing.T) {
	unsubscribes := map[string]func(c *client, b *Broker){
		"client": func(c *client, _ *Broker) {
			c.s.HandleText([]byte(`{"type":"unsubscribe","id":"u","topic":"room.1"}`))
		},
		"backend": func(c *client, b *Broker) {
			b.HandleControl(Control{Kind: ControlUnsubscribe, Session: c.s.ID(), Topic: "room.1"})
		},
	}
	for by, unsubscribe := range unsubscribes {
		for _, accept := range []bool{false, true} {
			hook := &askedHook{asks: map[string]int{}, accept: map[string]bool{"room.1": true}}
			b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
			c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{sub: []string{"busy"}}})
			if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`); r["type"] != "subscribed" {
				t.Fatalf("first subscribe: %v", r)
			}
			hook.set(func(h *askedHook) { h.accept["room.1"] = accept })
			release := busyWorker(t, c, e)
			unsubscribe(c, b)
			c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
			release()
			r := c.reply(t, "2")
			if got := hook.asksOf("room.1"); got != 2 {
				t.Errorf("unsubscribed by the %s, accept %v: hook asked %d times, want 2", by, accept, got)
			}
			if accept {
				if r["type"] != "subscribed" || !c.holds("room.1") {
					t.Errorf("unsubscribed by the %s, hook says yes: %v, held %v", by, r, c.holds("room.1"))
				}
			} else if r["code"] != string(CodeForbidden) || c.holds("room.1") {
				t.Errorf("unsubscribed by the %s, hook says no: %v, held %v", by, r, c.holds("room.1"))
			}
		}
	}
}

// subscribedBusy connects a client subscribed to room.1 through a hook
// that answers yes, gated from then on, and keeps its worker busy until
// release is called: commands sent meanwhile queue, and a subscribe of
// room.1 queued behind an unsubscribe asks the hook only as it runs.
func subscribedBusy(t *testing.T) (b *Broker, c *client, gate chan struct{}, asked chan string, release func()) {
	t.Helper()
	hook := &askedHook{asks: map[string]int{}, accept: map[string]bool{"room.1": true}}
	b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
	c = connect(t, b, ClientInfo{Subject: "1", Perms: allowList{sub: []string{"busy"}}})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	gate, asked = make(chan struct{}), make(chan string, 1)
	hook.set(func(h *askedHook) { h.gate, h.asked = gate, asked })
	return b, c, gate, asked, busyWorker(t, c, e)
}

// A subscribe to a topic still held when it runs is answered without the
// hook.
func TestSubscribeStillHeldSkipsTheHook(t *testing.T) {
	hook := &askedHook{asks: map[string]int{}, accept: map[string]bool{"room.1": true}}
	b, e := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{sub: []string{"busy"}}})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	release := busyWorker(t, c, e)
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
	release()
	if r := c.reply(t, "2"); r["type"] != "subscribed" || hook.asksOf("room.1") != 1 {
		t.Errorf("subscribe again: %v, hook asked %d times, want 1", r, hook.asksOf("room.1"))
	}
}

// Commands of the topic queued behind such a subscribe wait for the
// hook's answer, as they would behind a first subscribe: an unsubscribe
// sent after it ends what it made.
func TestQueuedBehindLateHookKeepOrder(t *testing.T) {
	_, c, gate, asked, release := subscribedBusy(t)
	c.s.HandleText([]byte(`{"type":"unsubscribe","id":"u1","topic":"room.1"}`))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"room.1"}`))
	c.s.HandleText([]byte(`{"type":"unsubscribe","id":"u2","topic":"room.1"}`))
	release()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscribe after the unsubscribe never asked the hook")
	}
	c.s.HandleText([]byte(`{"type":"ping","id":"p"}`)) // the worker goes on meanwhile
	c.reply(t, "p")
	close(gate)
	if r := c.reply(t, "2"); r["type"] != "subscribed" {
		t.Errorf("subscribe: %v", r)
	}
	if r := c.reply(t, "u2"); r["type"] != "unsubscribed" || c.holds("room.1") {
		t.Errorf("unsubscribe sent after it: %v, held %v", r, c.holds("room.1"))
	}
}
