package hooks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/store/memory"
)

// A member event that says what the last one sent of its user said is
// left out, in a batch and across batches, until the sender forgets; a
// batch the backend refused is judged again the same way.
func TestMemberRepeatsLeftOut(t *testing.T) {
	ev := func(name, user string) []byte {
		return fmt.Appendf(nil, `{"name":%q,"topic":"room.1","user":%q}`, name, user)
	}
	var m memberMemory
	check := func(what string, batch [][]byte, want ...[]byte) map[memberKey]bool {
		t.Helper()
		send, sent := m.withoutRepeats(batch)
		if fmt.Sprintf("%s", send) != fmt.Sprintf("%s", want) {
			t.Fatalf("%s: sent %s, want %s", what, send, want)
		}
		return sent
	}
	occupied := []byte(`{"name":"topic_occupied","topic":"room.1"}`)
	first := [][]byte{occupied, ev("member_added", "ada"), ev("member_added", "ada"), ev("member_removed", "bob")}
	check("a refused batch", first, occupied, ev("member_added", "ada"), ev("member_removed", "bob"))
	sent := check("the same batch again", first, occupied, ev("member_added", "ada"), ev("member_removed", "bob"))
	for k, added := range sent {
		m.remember(k, added, time.Now())
	}
	check("repeats of what was sent", [][]byte{ev("member_added", "ada"), ev("member_removed", "bob"), ev("member_removed", "ada")},
		ev("member_removed", "ada"))
	m.forget()
	check("after another node sent", [][]byte{ev("member_added", "ada")}, ev("member_added", "ada"))

	// Events of distinct users and topics are not taken for repeats, nor
	// a topic's occupancy for a member's, however their names run on.
	m.forget()
	member := func(topic, user string) []byte {
		return fmt.Appendf(nil, `{"name":"member_added","topic":%q,"user":%q}`, topic, user)
	}
	distinct := [][]byte{member("ab", "c"), member("a", "bc"), member("abc", "x"), member("ab", "cx"),
		[]byte(`{"name":"topic_occupied","topic":"ab"}`), []byte(`{"name":"topic_occupied","topic":"abc"}`)}
	sent = check("distinct events", distinct, distinct...)
	for k, added := range sent {
		m.remember(k, added, time.Now())
	}
	check("distinct events after those", [][]byte{member("a", "b"), member("abcx", ""), []byte(`{"name":"topic_occupied","topic":"a"}`)},
		member("a", "b"), member("abcx", ""), []byte(`{"name":"topic_occupied","topic":"a"}`))
	check("their repeats", distinct)
}

// What the sender remembers is bounded: a generation that fills starts the
// next, and the one before it is forgotten.
func TestMemberMemoryBounded(t *testing.T) {
	var m memberMemory
	now := time.Now()
	for i := range 2*maxRemembered + 1 {
		m.remember(keyOf("t", fmt.Sprint(i)), true, now)
	}
	if n := len(m.cur) + len(m.prev); n > 2*maxRemembered {
		t.Fatalf("%d remembered", n)
	}
	if _, known := m.last(keyOf("t", "0")); known {
		t.Fatal("the oldest generation is still remembered")
	}
	m.remember(keyOf("t", "x"), true, now.Add(repeatWindow))
	if len(m.cur) != 1 {
		t.Fatalf("a generation older than the window kept on: %d", len(m.cur))
	}
}

// A full generation of events of the longest topics holds a few
// megabytes, not the topics: 335 bytes an event when the keys were the
// strings, 24 as a hash of them.
func TestMemberMemoryHeapBounded(t *testing.T) {
	if perEntry := memberMemoryHeap(t, maxRemembered); perEntry > 64 {
		t.Fatalf("%.1f bytes of heap a remembered event, want at most 64", perEntry)
	}
}

// A sender whose queue stays empty lets go of the member events it
// remembered once they are two windows old, as its next member event
// would have it do: a node quiet after a busy spell held up to a few
// megabytes of them for as long as no member event came. An event a
// window old is still remembered, and a recent one too.
func TestMemberMemoryLetGoWhileIdle(t *testing.T) {
	eng := memory.New(memory.Config{})
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	w := &Webhooks{cfg: WebhookConfig{Node: "n1", Store: eng, Lease: 15 * time.Second, VacatedDelay: time.Second, MaxQueued: 100},
		log: zap.NewNop(), ctx: context.Background()}
	now := time.Now()
	for i := range 1000 {
		w.members.remember(keyOf("room.1", fmt.Sprint(i)), true, now.Add(-2*repeatWindow-time.Second))
	}
	var backoff time.Duration
	if w.sendOnce(&backoff); len(w.members.cur)+len(w.members.prev) != 0 {
		t.Fatalf("%d member events of two windows ago still remembered by an idle sender", len(w.members.cur)+len(w.members.prev))
	}

	w.members = memberMemory{}
	w.members.remember(keyOf("room.1", "old"), true, now.Add(-repeatWindow-time.Second))
	w.sendOnce(&backoff)
	w.members.remember(keyOf("room.1", "new"), false, time.Now())
	w.sendOnce(&backoff)
	for _, user := range []string{"old", "new"} {
		if _, known := w.members.last(keyOf("room.1", user)); !known {
			t.Fatalf("the event of %s, within two windows, was forgotten", user)
		}
	}
}
