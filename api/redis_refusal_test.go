package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis out of memory (noeviction) refuses every publish: publishers get
// 503 unavailable saying nothing was published, WebSocket publishers are not
// closed for it, and /readyz answers 503 until Redis takes writes again.
func TestRedisOutOfMemoryIsUnavailableAndNotReady(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	n := startNode(t, api.Config{MaxMessageBytes: 8 << 10}, redisEngine(t, srv.URL()))
	var ok published
	n.post(t, "/api/publish", `{"topic":"full","data":1}`).wantOK(t, &ok)

	adminDo(t, admin, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	adminDo(t, admin, "CONFIG", "SET", "maxmemory", strconv.FormatInt(usedMemory(t, admin)+256<<10, 10))
	r := publishUntilRefused(t, n)
	if msg := r.wantError(t, http.StatusServiceUnavailable, "unavailable"); !strings.Contains(msg, "nothing was published") {
		t.Fatalf("refused publish says %q, want that nothing was published", msg)
	}
	n.get(t, "/readyz").wantError(t, http.StatusServiceUnavailable, "unavailable")
	// Full for small messages too: every WebSocket publish is refused.
	adminDo(t, admin, "CONFIG", "SET", "maxmemory", "1")
	wsPublishesStayOpen(t, n, 12) // more than the ten failures that close a connection

	adminDo(t, admin, "CONFIG", "SET", "maxmemory", "0")
	n.post(t, "/api/publish", `{"topic":"full","data":2}`).wantOK(t, &ok)
	if r := n.get(t, "/readyz"); r.status != http.StatusOK {
		t.Fatalf("/readyz after a publish succeeded again: %d %s", r.status, r.body)
	}
}

// redisEngine is a Redis engine on url, closed after the node that uses it.
func redisEngine(t *testing.T, url string) *redis.Engine {
	t.Helper()
	e, err := redis.New(context.Background(), redis.Config{
		URL: url, HistorySize: 1000, Timeout: time.Second, Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(t, "redis engine", e.Close) })
	return e
}

// publishUntilRefused publishes 4 KiB messages until one is not a 200.
func publishUntilRefused(t *testing.T, n *node) reply {
	t.Helper()
	body := fmt.Sprintf(`{"topic":"full","data":%q}`, strings.Repeat("x", 4<<10))
	for range 10000 {
		if r := n.post(t, "/api/publish", body); r.status != http.StatusOK {
			return r
		}
	}
	t.Fatal("Redis took every publish")
	return reply{}
}

// wsPublishesStayOpen publishes count times over one WebSocket, each
// answered unavailable, and checks the connection still answers a ping.
func wsPublishesStayOpen(t *testing.T, n *node, count int) {
	t.Helper()
	c := mustDial(t, n)
	for i := range count {
		c.send(fmt.Sprintf(`{"type":"publish","id":"p%d","topic":"full","data":1}`, i))
		if r := c.read(); !bytes.Contains(r, []byte(`"code":"unavailable"`)) {
			t.Fatalf("WebSocket publish %d with Redis out of memory: %s, want unavailable", i, r)
		}
	}
	c.send(`{"type":"ping","id":"alive"}`)
	if r := c.read(); !bytes.Contains(r, []byte(`"type":"pong"`)) {
		t.Fatalf("after %d refused publishes: %s, want a pong", count, r)
	}
}

func adminDo(t *testing.T, c *goredis.Client, args ...any) {
	t.Helper()
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}

func usedMemory(t *testing.T, c *goredis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no used_memory in INFO: %q", info)
	return 0
}
