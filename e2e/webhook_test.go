package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// webhookBackend takes webhook batches once open, refusing them before.
type webhookBackend struct {
	mu     sync.Mutex
	open   bool
	refuse string // a path answered 503 even when open
	events []map[string]any
}

func (b *webhookBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open || r.URL.Path == b.refuse {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var batch struct{ Events []map[string]any }
	if err := json.Unmarshal(body, &batch); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	b.events = append(b.events, batch.Events...)
}

func (b *webhookBackend) taken() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.events...)
}

// Two nodes on one Redis queue webhook events (occupancy, members and
// disconnections) while the backend fails;
// the node sending them is killed; the other sends every event, once
// each, and each topic's in order, when the backend recovers.
func TestWebhooksSurviveTheSendingNode(t *testing.T) {
	redis := redistest.Start(t)
	backend := &webhookBackend{}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	// The connect hook names each client after its query's user.
	connect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Query map[string]string }
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"user":%q,"allow":{"subscribe":[">"]}}`, req.Query["user"])
	}))
	t.Cleanup(connect.Close)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(),
		"HERALD_CONNECT_URL=" + connect.URL, "HERALD_PRESENCE_TOPICS=room.>",
		"HERALD_HOOK_TIMEOUT=200ms", "HERALD_WEBHOOK_VACATED_DELAY=100ms"}
	// Each node posts to a path of its own, so that the backend can refuse
	// the killed one's: a batch it sent just before the kill may reach the
	// backend after it opens, and taken then, it would come twice, as
	// docs/protocol.md section 11 says a batch in flight may.
	nodes := []*process{
		startProcess(t, "a", append(env, "HERALD_WEBHOOK_URL="+srv.URL+"/a")...),
		startProcess(t, "b", append(env, "HERALD_WEBHOOK_URL="+srv.URL+"/b")...),
	}

	const clients = 10
	for i := range clients {
		c := dial(t, fmt.Sprintf("%s?user=u%d", nodes[i%2].ws, i))
		c.subscribe("s", fmt.Sprintf("room.%d", i))
		c.clientClose()
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	const want = 5 * clients // occupied, member added and removed, disconnected, vacated
	eventually(t, "every event queued", func() bool {
		return rdb.XLen(ctx, "herald:{webhooks}:events").Val() == want
	})
	sender := rdb.Get(ctx, "herald:{webhooks}:sender").Val()
	victim := map[string]*process{"a": nodes[0], "b": nodes[1]}[sender]
	if victim == nil {
		t.Fatalf("the sender is %q", sender)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	backend.mu.Lock()
	backend.open, backend.refuse = true, "/"+sender
	backend.mu.Unlock()

	eventually(t, "every event sent", func() bool { return len(backend.taken()) >= want })
	seen := map[string]bool{}
	occupied := map[string]bool{}
	for _, ev := range backend.taken() {
		key := fmt.Sprint(ev["name"], ev["topic"], ev["session"], ev["user"])
		if seen[key] {
			t.Errorf("sent twice: %v", ev)
		}
		seen[key] = true
		switch ev["name"] {
		case "topic_occupied":
			occupied[ev["topic"].(string)] = true
		case "topic_vacated":
			if !occupied[ev["topic"].(string)] {
				t.Errorf("vacated before occupied: %v", ev)
			}
		case "member_removed":
			if !seen[fmt.Sprint("member_added", ev["topic"], nil, ev["user"])] {
				t.Errorf("removed before added: %v", ev)
			}
		case "client_disconnected":
			if ev["code"] != float64(1000) || ev["user"] == "" {
				t.Errorf("client_disconnected %v", ev)
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("%d distinct events, want %d", len(seen), want)
	}
}

// A node killed while its clients hold a topic: once its heartbeat
// lapsed the other node releases the topic, and topic_vacated follows,
// and reports the dead node's connection ended with 1006.
func TestWebhooksVacateADeadNodesTopics(t *testing.T) {
	redis := redistest.Start(t)
	backend := &webhookBackend{open: true}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_WEBHOOK_URL=" + srv.URL,
		"HERALD_HOOK_TIMEOUT=200ms", "HERALD_WEBHOOK_VACATED_DELAY=100ms"}
	nodes := []*process{startProcess(t, "a", env...), startProcess(t, "b", env...)}
	c := dial(t, nodes[0].ws)
	c.subscribe("s", "room.held")
	other := dial(t, nodes[1].ws)
	other.subscribe("s", "room.kept")
	named := func(name, topic string) int {
		n := 0
		for _, ev := range backend.taken() {
			if ev["name"] == name && ev["topic"] == topic {
				n++
			}
		}
		return n
	}
	eventually(t, "both topics occupied", func() bool {
		return named("topic_occupied", "room.held") == 1 && named("topic_occupied", "room.kept") == 1
	})
	if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dead node's topic vacated", func() bool { return named("topic_vacated", "room.held") == 1 })
	if n := named("topic_vacated", "room.kept"); n != 0 {
		t.Fatalf("a live node's topic was vacated %d times", n)
	}
	var ends []map[string]any
	for _, ev := range backend.taken() {
		if ev["name"] == "client_disconnected" {
			ends = append(ends, ev)
		}
	}
	if len(ends) != 1 || ends[0]["session"] != c.session || ends[0]["code"] != float64(1006) {
		t.Fatalf("the dead node's connection: %v, want one 1006 for %s", ends, c.session)
	}
}
