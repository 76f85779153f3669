package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
)

// TestSSEHeadReadsNoResume: a HEAD of /sse carrying a Last-Event-ID is
// answered as the stream would begin and reads none of the history the
// id would resume, since it sends no event. It read it all and threw it
// away: with Redis, 29 ms of Redis CPU a request for 32 topics of 30 KB
// messages, where the same HEAD without the id took 1.4 ms.
func TestSSEHeadReadsNoResume(t *testing.T) {
	const topics, published, size = 8, 100, 1 << 10
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	n := startNode(t, api.Config{MaxMessageBytes: 8 << 10}, redisEngine(t, srv.URL()))
	var path strings.Builder
	path.WriteString("/sse?")
	for i := range topics {
		fmt.Fprintf(&path, "topic=h.%d&", i)
	}
	first := mustOpenSSE(t, n.base, path.String())
	_, lastID := first.subscribed(t)
	first.close()
	pad := strings.Repeat("x", size)
	var batch strings.Builder
	batch.WriteString(`{"messages":[`)
	for i := range topics * published {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"topic":"h.%d","data":%q}`, i%topics, pad)
	}
	batch.WriteString(`]}`)
	n.post(t, "/api/batch", batch.String()).wantOK(t, &struct{}{})

	before := redisOutputBytes(t, admin)
	r := n.do(t, http.MethodHead, path.String(), "", "Last-Event-ID", lastID)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// The history the id resumes is 800 KB; a HEAD's own work (each
	// topic's position, set up and taken back) is a few.
	history := int64(topics * published * size)
	if sent := redisOutputBytes(t, admin) - before; sent >= history/8 {
		t.Fatalf("Redis sent %d bytes for a HEAD resuming %d bytes of history", sent, history)
	}
}

// redisOutputBytes is what the Redis at c has sent its clients so far.
func redisOutputBytes(t *testing.T, c *goredis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no total_net_output_bytes in INFO stats")
	return 0
}

// TestSSEHeadJoinsNoPresence: a HEAD of /sse on a presence topic is
// answered as the stream would begin, and refused as it would be, and
// its topic's members see nothing of it: each HEAD opened a stream and
// closed it, a join and a leave of its user.
func TestSSEHeadJoinsNoPresence(t *testing.T) {
	n := startPresenceNode(t)
	watcher := userClient(t, n, "1", "")
	wantReply(t, watcher.command(`{"type":"subscribe","id":"w","topic":"room.z","presence":true}`), "subscribed", "")
	token := claimsToken(t, "2", jwt.MapClaims{"allow": map[string][]string{"subscribe": {"room.*"}}})
	for range 2 {
		r := n.do(t, http.MethodHead, "/sse?topic=room.z&token="+token, "")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HEAD: %d %q", r.status, r.header.Get("Content-Type"))
		}
	}
	if r := n.do(t, http.MethodHead, "/sse?topic=secret&token="+token, ""); r.status != http.StatusForbidden {
		t.Fatalf("HEAD of a topic not allowed: %d, want 403", r.status)
	}
	if r := n.do(t, http.MethodHead, "/sse?topic=room.z", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("HEAD without a token: %d, want 401", r.status)
	}
	// A message published after the HEADs comes after any join or leave
	// they caused: the watcher's next frame is it.
	n.control(t, "/api/publish", `{"topic":"room.z","data":1}`).wantOK(t, &struct{}{})
	if got := string(watcher.read()); !strings.Contains(got, `"type":"message"`) {
		t.Fatalf("the watcher got %s before the message published after the HEADs", got)
	}
	if st := n.broker.Stats(); st.Streams != 0 || st.Subscriptions != 1 {
		t.Fatalf("HEADs left %d streams, %d subscriptions", st.Streams, st.Subscriptions)
	}
}

// TestSSEHeadSendsNoWebhook: a HEAD of /sse on presence topics nobody
// holds causes no webhook event, where each HEAD's stream made the
// backend hear topic_occupied and member_added.
func TestSSEHeadSendsNoWebhook(t *testing.T) {
	events := make(chan string, 64)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, ev := range batch.Events {
			events <- string(ev)
		}
	}))
	t.Cleanup(backend.Close)
	nt := nodetest.Start(t, nodetest.Options{Node: heraldnode.Config{
		NodeID: "test-node", Tokens: hsVerifier(t),
		Broker: broker.Config{MaxSubscriptions: 100, PresenceTopics: []string{"room.*"}},
		Hooks:  heraldnode.Hooks{WebhookURL: backend.URL},
	}})
	n := &node{srv: nt.API, base: nt.Base, addr: nt.Addr, wsURL: nt.WS, broker: nt.Broker}
	token := claimsToken(t, "2", jwt.MapClaims{"allow": map[string][]string{"subscribe": {"room.*"}}})
	for range 2 {
		if r := n.do(t, http.MethodHead, "/sse?topic=room.z&topic=room.y&token="+token, ""); r.status != http.StatusOK {
			t.Fatalf("HEAD: %d", r.status)
		}
	}
	// Events are queued as they happen: any of the HEADs' comes before
	// the occupancy of a topic subscribed after them.
	userClient(t, n, "1", "").subscribe("room.after")
	for {
		select {
		case ev := <-events:
			if strings.Contains(ev, `"room.after"`) {
				return
			}
			if !strings.Contains(ev, `"client_disconnected"`) {
				t.Fatalf("the backend was sent %s after two HEADs", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no topic_occupied of room.after within 10 s")
		}
	}
}
