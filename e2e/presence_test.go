package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/internal/redistest"
)

const presenceSecret = "herald-e2e-presence-secret-32byt"

// userToken is a client token for user, allowed room.*, for an hour.
func userToken(t *testing.T, user string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(time.Hour).Unix(),
		"info":  map[string]string{"name": user},
		"allow": map[string][]string{"subscribe": {"room.*"}},
	}).SignedString([]byte(presenceSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// presenceOf is GET /api/presence on n.
func presenceOf(t *testing.T, n *node, topic string) (users, sessions int, members map[string]int) {
	t.Helper()
	var p struct {
		Users, Sessions int
		Members         []struct {
			User     string
			Sessions int
		}
	}
	getJSON(t, n.base+"/api/presence?topic="+topic, &p)
	members = map[string]int{}
	for _, m := range p.Members {
		members[m.User] = m.Sessions
	}
	return p.Users, p.Sessions, members
}

// control posts a backend's control to n and checks the reply is {}.
func control(t *testing.T, n *node, path, body string) {
	t.Helper()
	code, reply := post(t, n, path, body)
	if code != http.StatusOK || len(reply) != 0 {
		t.Fatalf("%s %s: %d %v, want 200 {}", path, body, code, reply)
	}
}

// Two herald processes on one Redis: a user with a tab on each node joins
// once; presence and controls answer the same from either node; and when
// a node is SIGKILLed, its members leave within 30 seconds (docs/protocol.md
// sections 8 and 9) while a user with a tab on the other node stays. Node
// a, the one killed, has a short presence lapse (dyingNodeLapse).
func TestPresenceAndControlAcrossNodes(t *testing.T) {
	redis := redistest.Start(t)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_PRESENCE_TOPICS=room.*", "HERALD_JWT_SECRET=" + presenceSecret}
	a, b := startProcess(t, "a", append(slices.Clip(env), dyingNodeLapse)...), startProcess(t, "b", env...)

	watcher := dial(t, b.ws+"?token="+userToken(t, "w"))
	watcher.send(`{"type":"subscribe","id":"w","topic":"room.1","presence":true}`)
	if f := watcher.reply("w"); f.Type != "subscribed" {
		t.Fatalf("watcher: %+v", f)
	}
	// Ada's tabs open on both nodes at the same moment; Carl is on a only.
	tabs := []*client{dial(t, a.ws+"?token="+userToken(t, "ada")), dial(t, b.ws+"?token="+userToken(t, "ada")),
		dial(t, a.ws+"?token="+userToken(t, "carl"))}
	var wg sync.WaitGroup
	for _, c := range tabs {
		wg.Add(1)
		go func() { defer wg.Done(); c.send(`{"type":"subscribe","id":"s","topic":"room.1"}`) }()
	}
	wg.Wait()
	for i, c := range tabs {
		if f := c.reply("s"); f.Type != "subscribed" {
			t.Fatalf("tab %d: %+v", i, f)
		}
	}
	joins := map[string]int{}
	for range 2 {
		f := watcher.next()
		if f.Type != "join" {
			t.Fatalf("watcher got %+v, want a join", f)
		}
		joins[f.User]++
	}
	if fmt.Sprint(joins) != "map[ada:1 carl:1]" {
		t.Fatalf("joins %v, want one for ada (two tabs, two nodes) and one for carl", joins)
	}
	for _, n := range []*node{&a.node, &b.node} {
		if users, sessions, members := presenceOf(t, n, "room.1"); users != 3 || sessions != 4 || members["ada"] != 2 {
			t.Errorf("presence from %s: %d users, %d sessions, %v", n.base, users, sessions, members)
		}
	}

	// A backend's controls, sent to node a, act on a client of node b.
	bob := dial(t, b.ws+"?token="+userToken(t, "bob"))
	control(t, &a.node, "/api/subscribe", `{"user":"bob","topic":"user:bob.notices"}`)
	if f := bob.next(); f.Type != "subscribed" || !f.Server || f.Topic != "user:bob.notices" || f.ID != "" {
		t.Fatalf("bob got %+v, want a server subscribed", f)
	}
	publish(t, &a.node, "user:bob.notices", `"hi"`)
	if f := bob.next(); f.Type != "message" || string(f.Data) != `"hi"` {
		t.Fatalf("bob got %+v, want the message", f)
	}
	control(t, &a.node, "/api/unsubscribe", `{"user":"bob","topic":"user:bob.notices"}`)
	if f := bob.next(); f.Type != "unsubscribed" || f.Reason != "server" || f.ID != "" {
		t.Fatalf("bob got %+v, want unsubscribed by the server", f)
	}
	control(t, &a.node, "/api/disconnect", `{"session":"`+bob.session+`"}`)
	if code := bob.closeCode(); code != 4004 {
		t.Fatalf("bob closed with %d, want 4004", code)
	}

	// Node a dies without closing anything: Carl leaves, Ada (a tab on b) stays.
	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-watcher.frames:
		if f.Type != "leave" || f.User != "carl" {
			t.Fatalf("after the kill the watcher got %+v, want carl's leave", f)
		}
		t.Logf("carl left %v after the kill", time.Since(killed).Round(time.Second))
	case <-time.After(30*time.Second - time.Since(killed)):
		t.Fatal("no leave within 30 s of the node's death")
	}
	if users, sessions, members := presenceOf(t, &b.node, "room.1"); users != 2 || sessions != 2 || members["ada"] != 1 || members["carl"] != 0 {
		t.Errorf("presence after the kill: %d users, %d sessions, %v", users, sessions, members)
	}
	select {
	case f := <-watcher.frames:
		t.Errorf("the watcher got %+v after carl's leave", f)
	case <-time.After(200 * time.Millisecond):
	}
}
