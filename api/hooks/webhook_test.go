package hooks_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// events collects the webhook events a backend took, in order, and can
// refuse batches for a while.
type events struct {
	mu     sync.Mutex
	got    []string // each event's JSON text
	batch  []int    // the size of each batch taken
	refuse int      // batches still to answer 500
}

func (e *events) answer(w http.ResponseWriter, body map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuse > 0 {
		e.refuse--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if _, ok := body["time_ms"].(float64); !ok {
		panic(fmt.Sprintf("batch without time_ms: %v", body))
	}
	list, _ := body["events"].([]any)
	for _, ev := range list {
		b, _ := json.Marshal(ev)
		e.got = append(e.got, string(b))
	}
	e.batch = append(e.batch, len(list))
	w.WriteHeader(http.StatusNoContent)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// named returns the events named name.
func (e *events) named(name string) []string {
	var out []string
	for _, ev := range e.list() {
		if strings.Contains(ev, `"name":"`+name+`"`) {
			out = append(out, ev)
		}
	}
	return out
}

func newWebhookBackend(t *testing.T) (*events, *backend) {
	e := &events{}
	return e, newBackend(t, e.answer)
}

// Occupied when the first exact subscriber arrives, vacated when the last
// stayed gone for the delay; a return within the delay sends neither; a
// pattern counts for nothing.
func TestWebhookOccupiedAndVacated(t *testing.T) {
	ev, b := newWebhookBackend(t)
	const delay = 300 * time.Millisecond
	n := startNode(t, node.Hooks{WebhookURL: b.srv.URL, VacatedDelay: delay}, nil)
	c1, _ := dial(t, n, "")
	c2, _ := dial(t, n, "")
	c1.send(`{"type":"subscribe","id":"p","topic":"room.*"}`)
	c1.reply("p")
	c1.send(`{"type":"subscribe","id":"1","topic":"room.1"}`)
	c1.reply("1")
	c2.send(`{"type":"subscribe","id":"2","topic":"room.1"}`)
	c2.reply("2")
	eventually(t, "topic_occupied", func() bool { return len(ev.named("topic_occupied")) == 1 })

	c1.send(`{"type":"unsubscribe","id":"3","topic":"room.1"}`)
	c1.reply("3")
	c2.send(`{"type":"unsubscribe","id":"4","topic":"room.1"}`)
	c2.reply("4")
	c2.send(`{"type":"subscribe","id":"5","topic":"room.1"}`) // back within the delay
	c2.reply("5")
	time.Sleep(2 * delay)
	c2.send(`{"type":"unsubscribe","id":"6","topic":"room.1"}`)
	c2.reply("6")
	eventually(t, "topic_vacated", func() bool { return len(ev.named("topic_vacated")) == 1 })
	want := []string{`{"name":"topic_occupied","topic":"room.1"}`, `{"name":"topic_vacated","topic":"room.1"}`}
	got := append(ev.named("topic_occupied"), ev.named("topic_vacated")...)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(ev.list()) != 2 {
		t.Fatalf("events %v, want %v", ev.list(), want)
	}
}

// Every connection's end is reported with its close code and user.
func TestWebhookClientDisconnected(t *testing.T) {
	ev, b := newWebhookBackend(t)
	connect := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		q, _ := body["query"].(map[string]any)
		user, _ := q["user"].(string)
		answerJSON(200, fmt.Sprintf(`{"user":%q}`, user))(w, body)
	})
	n := startNode(t, node.Hooks{WebhookURL: b.srv.URL, ConnectURL: connect.srv.URL}, nil)

	polite, w1 := dial(t, n, "?user=42")
	if err := wsutil.WriteClientMessage(polite.conn, ws.OpClose, ws.NewCloseFrameBody(1000, "bye")); err != nil {
		t.Fatal(err)
	}
	polite.closedWith()
	polite.conn.Close()
	dropped, w2 := dial(t, n, "")
	dropped.conn.(*net.TCPConn).SetLinger(0)
	dropped.conn.Close()
	bad, w3 := dial(t, n, "?user=7")
	for range 10 {
		bad.send(`nonsense`)
	}
	if code := bad.closedWith(); code != 4003 {
		t.Fatalf("closed with %d", code)
	}
	bad.conn.Close() // the server's close is answered by the socket's end
	type ended struct {
		User string
		Code int
	}
	want := map[string]ended{
		w1["session"].(string): {"42", 1000},
		w2["session"].(string): {"", 1006},
		w3["session"].(string): {"7", 4003},
	}
	eventually(t, "three client_disconnected", func() bool { return len(ev.named("client_disconnected")) == 3 })
	for _, e := range ev.named("client_disconnected") {
		var got struct {
			Session string
			ended
		}
		if err := json.Unmarshal([]byte(e), &got); err != nil {
			t.Fatal(err)
		}
		if w, ok := want[got.Session]; !ok || got.ended != w {
			t.Errorf("event %s, want %+v", e, w)
		}
	}
}

// A backend that fails for a while loses nothing: the events come, in
// order, once it recovers.
func TestWebhookBackendFailsThenRecovers(t *testing.T) {
	ev, b := newWebhookBackend(t)
	ev.refuse = 4
	n := startNode(t, node.Hooks{WebhookURL: b.srv.URL}, nil)
	c, _ := dial(t, n, "")
	const topics = 30
	for i := range topics {
		c.send(`{"type":"subscribe","id":"%d","topic":"t.%d"}`, i, i)
		c.reply(fmt.Sprint(i))
	}
	eventually(t, "every topic_occupied", func() bool { return len(ev.list()) == topics })
	for i, e := range ev.list() {
		if want := fmt.Sprintf(`{"name":"topic_occupied","topic":"t.%d"}`, i); e != want {
			t.Fatalf("event %d: %s, want %s", i, e, want)
		}
	}
	if got := metric(t, n, `herald_hook_requests_total{hook="webhook",outcome="refused"}`); got != "4" {
		t.Fatalf("refused webhook batches %q, want 4", got)
	}
	if got := metric(t, n, `herald_webhook_events_delivered_total`); got != fmt.Sprint(topics) {
		t.Fatalf("delivered %q, want %d", got, topics)
	}
}

// member_added when a user's first session on a presence topic arrives,
// member_removed when its last goes; anonymous sessions are never members.
func TestWebhookMembers(t *testing.T) {
	ev, b := newWebhookBackend(t)
	connect := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		q, _ := body["query"].(map[string]any)
		user, _ := q["user"].(string)
		answerJSON(200, fmt.Sprintf(`{"user":%q,"allow":{"subscribe":[">"]}}`, user))(w, body)
	})
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "members", Broker: broker.Config{PresenceTopics: []string{"room.>"}},
		Hooks: node.Hooks{WebhookURL: b.srv.URL, ConnectURL: connect.srv.URL, Secret: []byte(secret)},
	}})
	tab1, _ := dial(t, n, "?user=42")
	tab2, _ := dial(t, n, "?user=42")
	other, _ := dial(t, n, "?user=43")
	anon, _ := dial(t, n, "")
	for i, c := range []*wsClient{tab1, tab2, other, anon} {
		c.send(`{"type":"subscribe","id":"%d","topic":"room.1"}`, i)
		c.reply(fmt.Sprint(i))
	}
	tab1.send(`{"type":"unsubscribe","id":"u","topic":"room.1"}`)
	tab1.reply("u")
	tab2.send(`{"type":"unsubscribe","id":"u","topic":"room.1"}`)
	tab2.reply("u")
	eventually(t, "member_removed", func() bool { return len(ev.named("member_removed")) == 1 })
	var got []string
	for _, e := range ev.list() {
		if strings.Contains(e, `"member_`) {
			got = append(got, e)
		}
	}
	want := []string{
		`{"name":"member_added","topic":"room.1","user":"42"}`,
		`{"name":"member_added","topic":"room.1","user":"43"}`,
		`{"name":"member_removed","topic":"room.1","user":"42"}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("member events %v, want %v", got, want)
	}
}
