package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// startCluster runs n in-process nodes on one private Redis.
func startCluster(t *testing.T, redis *redistest.Server, n int) []*node {
	t.Helper()
	prefix := fmt.Sprintf("e2e-%d:", time.Now().UnixNano())
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, options{redisURL: redis.URL(), redisPrefix: prefix, nodeID: fmt.Sprintf("n%d", i+1)})
	}
	return nodes
}

// post sends body to path on n and returns the status and decoded reply.
func post(t testing.TB, n *node, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := httpClient.Post(n.base+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var reply map[string]any
	json.NewDecoder(resp.Body).Decode(&reply)
	return resp.StatusCode, reply
}

func status(t testing.TB, url string) int {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls cond until it holds, failing after wait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Publishers on every node, subscribers on every node (exact and by
// pattern): every subscriber sees one seq order, and an idempotency key
// holds across nodes.
func TestClusterOneOrderAcrossNodes(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 3)
	var clients []*client
	for _, n := range nodes {
		for _, topic := range []string{"game.1", "game.*", "game.>"} {
			c := dial(t, n.ws)
			c.subscribe("s", topic)
			clients = append(clients, c)
		}
	}
	const each = 40
	var wg sync.WaitGroup
	for p, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				publish(t, n, "game.1", fmt.Sprintf(`{"node":%d,"i":%d}`, p, i))
			}
		}()
	}
	wg.Wait()
	sameSeqOrder(t, clients, uint64(len(nodes)*each), nil)

	body := `{"topic":"orders","data":{"x":1},"idempotency_key":"k-1"}`
	_, first := post(t, nodes[0], "/api/publish", body)
	code, again := post(t, nodes[2], "/api/publish", body)
	if code != 200 || first["seq"] != again["seq"] || first["msg"] != again["msg"] {
		t.Fatalf("idempotent retry on another node: %d %v, first %v", code, again, first)
	}
}

// With Redis gone, publishes fail with 503 unavailable and /readyz says
// so, while WebSocket clients stay connected; when Redis returns on the
// same port, every node delivers again by itself and the lost topic has a
// new epoch.
func TestClusterSurvivesRedisOutage(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis, 2)
	subs := make([]*client, len(nodes))
	var alertsEpoch string
	for i, n := range nodes {
		subs[i] = dial(t, n.ws)
		alertsEpoch = subs[i].subscribe("s", "alerts").Epoch
	}
	oldEpoch := subs[0].subscribe("e", "alerts.other").Epoch
	publish(t, nodes[0], "alerts", `"before"`)
	for _, c := range subs {
		if f := c.next(); f.Seq != 1 {
			t.Fatalf("before the outage: %+v", f)
		}
	}

	redis.Stop()
	for _, n := range nodes {
		code, reply := post(t, n, "/api/publish", `{"topic":"alerts","data":1}`)
		errBody, _ := reply["error"].(map[string]any)
		if code != http.StatusServiceUnavailable || errBody["code"] != "unavailable" {
			t.Fatalf("publish without Redis: %d %v", code, reply)
		}
		if got := status(t, n.base+"/readyz"); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz without Redis: %d", got)
		}
	}
	subs[1].send(`{"type":"publish","id":"p","topic":"alerts","data":2}`)
	if f := subs[1].reply("p"); f.Type != "error" || f.Code != "unavailable" {
		t.Fatalf("WebSocket publish without Redis: %+v", f)
	}

	redis.Restart()
	for _, n := range nodes {
		eventually(t, "/readyz after Redis returned", func() bool { return status(t, n.base+"/readyz") == 200 })
	}
	// Delivery resumes once each node has resubscribed: publish until both
	// subscribers see a message (a publish before that may reach only one).
	var seen [2]*frame
	eventually(t, "delivery after Redis returned", func() bool {
		publish(t, nodes[0], "alerts", `"after"`)
		for i, c := range subs {
			select {
			case f := <-c.frames:
				if f.Type == "message" && seen[i] == nil {
					seen[i] = &f
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		return seen[0] != nil && seen[1] != nil
	})
	for i, f := range seen {
		if string(f.Data) != `"after"` {
			t.Fatalf("subscriber %d after the outage: %+v", i, f)
		}
	}
	if r := subs[0].subscribe("e2", "alerts.other"); r.Epoch == oldEpoch {
		t.Fatalf("epoch %s survived Redis losing its data", r.Epoch)
	}
	// A client that saw seq 1 before the outage resumes from there: the
	// history it asks for is gone with Redis's data, and it is told so.
	late := dial(t, nodes[1].ws)
	late.send(`{"type":"subscribe","id":"r","topic":"alerts","since":{"epoch":%q,"seq":1}}`, alertsEpoch)
	r := late.reply("r")
	if r.Type != "subscribed" || r.Recovered == nil || *r.Recovered || r.Epoch == alertsEpoch || r.Epoch == "" {
		t.Fatalf("resume after Redis lost its data: %+v, want recovered false in a new epoch", r)
	}
	publish(t, nodes[0], "alerts", `"live"`)
	if f := late.next(); f.Type != "message" || string(f.Data) != `"live"` || f.Seq != r.Seq+1 {
		t.Fatalf("after the resume: %+v, want the next message live (seq %d)", f, r.Seq+1)
	}
}
