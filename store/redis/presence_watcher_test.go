package redis_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// watcher is a broker connection that keeps what it is sent.
type watcher struct {
	s      *broker.Session
	asked  int // presence commands sent, for their ids
	mu     sync.Mutex
	frames []map[string]any
}

// watchFrom connects an anonymous client to b, which nobody is told of,
// and subscribes it to topic with presence:true.
func watchFrom(t *testing.T, b *broker.Broker, topic string) *watcher {
	t.Helper()
	w := &watcher{}
	w.s = b.Connect(w, broker.ClientInfo{})
	w.s.HandleText(fmt.Appendf(nil, `{"type":"subscribe","id":"s","topic":%q,"presence":true}`, topic))
	if r := w.reply(t, "s"); r["type"] != "subscribed" {
		t.Fatalf("subscribe: %v", r)
	}
	return w
}

// Send keeps a WebSocket frame's JSON (RFC 6455 section 5.2: a server's
// text frame, unmasked).
func (w *watcher) Send(frame []byte) bool {
	head := 2
	switch frame[1] & 0x7f {
	case 126:
		head = 4
	case 127:
		head = 10
	}
	var m map[string]any
	if err := json.Unmarshal(frame[head:], &m); err != nil {
		panic(fmt.Sprintf("frame %q: %v", frame, err))
	}
	w.mu.Lock()
	w.frames = append(w.frames, m)
	w.mu.Unlock()
	return true
}

func (w *watcher) Close(int, string) {}

// reply waits for the reply to the command of id.
func (w *watcher) reply(t *testing.T, id string) map[string]any {
	t.Helper()
	var r map[string]any
	if !eventually(func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, m := range w.frames {
			if m["id"] == id {
				r = m
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no reply to %s", id)
	}
	return r
}

// members asks who is on topic and returns the users listed.
func (w *watcher) members(t *testing.T, topic string) []string {
	t.Helper()
	w.asked++
	id := fmt.Sprint("p", w.asked)
	w.s.HandleText(fmt.Appendf(nil, `{"type":"presence","id":%q,"topic":%q}`, id, topic))
	r := w.reply(t, id)
	list, ok := r["members"].([]any)
	if !ok {
		t.Fatalf("presence: %v", r)
	}
	users := []string{}
	for _, m := range list {
		users = append(users, m.(map[string]any)["user"].(string))
	}
	return users
}

// changes returns the joins and leaves w got, as "join a" or "leave a".
func (w *watcher) changes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.frames {
		if m["type"] == "join" || m["type"] == "leave" {
			out = append(out, fmt.Sprintf("%s %s", m["type"], m["user"]))
		}
	}
	return out
}

// waitChanges waits until w got as many joins and leaves as want, and
// checks they are want.
func (w *watcher) waitChanges(t *testing.T, want ...string) {
	t.Helper()
	if !eventually(func() bool { return len(w.changes()) >= len(want) }) {
		t.Fatalf("joins and leaves: %v, want %v", w.changes(), want)
	}
	if got := w.changes(); !slices.Equal(got, want) {
		t.Fatalf("joins and leaves: %v, want %v", got, want)
	}
}
