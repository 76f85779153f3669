package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// startPresenceNode is a memory node that checks tokens, keeps presence on
// room.* and wants the API key "k".
func startPresenceNode(t *testing.T) *node {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Node: heraldnode.Config{
		NodeID: "test-node", Tokens: hsVerifier(t),
		Broker:    broker.Config{MaxSubscriptions: 100, PresenceTopics: []string{"room.*"}},
		Transport: transport.Config{},
		API:       api.Config{APIKeys: []string{"k"}},
	}})
	return &node{srv: n.API, base: n.Base, addr: n.Addr, wsURL: n.WS, broker: n.Broker}
}

var withKey = []string{"Authorization", "Bearer k"}

// userClient connects as sub, allowed room.* and nothing else, with info
// when it is not empty.
func userClient(t *testing.T, n *node, sub, info string) *wsClient {
	t.Helper()
	claims := jwt.MapClaims{"allow": map[string][]string{"subscribe": {"room.*"}}}
	if info != "" {
		claims["info"] = jsonRaw(info)
	}
	return mustConnect(t, n.wsURL+"?token="+claimsToken(t, sub, claims), dialer{})
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// control posts a control and returns its reply.
func (n *node) control(t *testing.T, path, body string) reply {
	t.Helper()
	return n.post(t, path, body, withKey...)
}

func TestPresenceRoute(t *testing.T) {
	n := startPresenceNode(t)
	for _, c := range []*wsClient{userClient(t, n, "42", `{"name": "Ada"}`), userClient(t, n, "42", ""), userClient(t, n, "43", "")} {
		c.subscribe("room.1")
	}
	r := n.get(t, "/api/presence?topic=room.1", withKey...)
	want := `{"topic":"room.1","users":2,"sessions":3,"members":[{"user":"42","sessions":2,"info":{"name":"Ada"}},{"user":"43","sessions":1}]}`
	if r.status != http.StatusOK || string(r.body) != want {
		t.Fatalf("got %d %s\nwant %s", r.status, r.body, want)
	}
	if r := n.get(t, "/api/presence?topic=room.2", withKey...); string(r.body) != `{"topic":"room.2","users":0,"sessions":0,"members":[]}` {
		t.Errorf("an empty topic: %s", r.body)
	}
	for query, code := range map[string]string{
		"": "bad_request", "?topic=": "invalid_topic", "?topic=room.*": "invalid_topic", "?topic=news": "presence_off",
	} {
		n.get(t, "/api/presence"+query, withKey...).wantError(t, http.StatusBadRequest, code)
	}
	n.get(t, "/api/presence?topic=room.1").wantError(t, http.StatusUnauthorized, "unauthorized")
	n.post(t, "/api/presence?topic=room.1", "", withKey...).wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestControlRoutesDisconnect(t *testing.T) {
	n := startPresenceNode(t)
	a1, a2, b := userClient(t, n, "42", ""), userClient(t, n, "42", ""), userClient(t, n, "43", "")
	if r := n.control(t, "/api/disconnect", `{"user":"42","topic":"ignored"}`); r.status != http.StatusOK || string(r.body) != `{}` {
		t.Fatalf("got %d %s, want exactly {}", r.status, r.body)
	}
	for _, c := range []*wsClient{a1, a2} {
		if code := c.closeCode(); code != broker.CloseDisconnected {
			t.Errorf("closed with %d, want 4004", code)
		}
	}
	wantReply(t, b.command(`{"type":"ping","id":"p"}`), "pong", "")
	// A topic is not disconnect's field: ignored, whatever its type.
	c := userClient(t, n, "45", "")
	if r := n.control(t, "/api/disconnect", `{"user":"45","topic":5}`); r.status != http.StatusOK || string(r.body) != `{}` {
		t.Fatalf("with a topic of another type: got %d %s, want exactly {}", r.status, r.body)
	}
	if code := c.closeCode(); code != broker.CloseDisconnected {
		t.Errorf("closed with %d, want 4004", code)
	}
	session := sessionOf(t, n, "44")
	if r := n.control(t, "/api/disconnect", `{"session":"`+session.id+`"}`); string(r.body) != `{}` {
		t.Fatalf("by session: %s", r.body)
	}
	if code := session.c.closeCode(); code != broker.CloseDisconnected {
		t.Errorf("closed with %d, want 4004", code)
	}
	// Nobody connected is no error.
	if r := n.control(t, "/api/disconnect", `{"user":"nobody"}`); string(r.body) != `{}` {
		t.Errorf("nobody: %d %s", r.status, r.body)
	}
}

// session is a client with the id its welcome gave.
type session struct {
	c  *wsClient
	id string
}

func sessionOf(t *testing.T, n *node, sub string) session {
	t.Helper()
	c, err := dialURL(t, n.wsURL+"?token="+claimsToken(t, sub, nil), dialer{})
	if err != nil {
		t.Fatal(err)
	}
	w := c.read()
	i := bytes.Index(w, []byte(`"session":"`))
	if i < 0 {
		t.Fatalf("welcome %s", w)
	}
	id := w[i+len(`"session":"`):]
	return session{c: c, id: string(id[:bytes.IndexByte(id, '"')])}
}

func TestControlRoutesSubscribeAndUnsubscribe(t *testing.T) {
	n := startPresenceNode(t)
	a := userClient(t, n, "42", "") // allowed room.* only
	if r := n.control(t, "/api/subscribe", `{"user":"42","topic":"user:42.notices"}`); string(r.body) != `{}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := a.read(); !bytes.HasPrefix(r, []byte(`{"type":"subscribed","topic":"user:42.notices","epoch":`)) || !bytes.HasSuffix(r, []byte(`,"seq":0,"server":true}`)) {
		t.Fatalf("got %s", r)
	}
	n.post(t, "/api/publish", `{"topic":"user:42.notices","data":"hi"}`, withKey...).wantOK(t, &published{})
	if r := a.read(); !bytes.Contains(r, []byte(`"type":"message","topic":"user:42.notices"`)) {
		t.Fatalf("got %s, want the message", r)
	}
	n.control(t, "/api/unsubscribe", `{"user":"42","topic":"user:42.notices"}`)
	if r := string(a.read()); r != `{"type":"unsubscribed","topic":"user:42.notices","reason":"server"}` {
		t.Fatalf("got %s", r)
	}
	n.post(t, "/api/publish", `{"topic":"user:42.notices","data":"gone"}`, withKey...).wantOK(t, &published{})
	wantReply(t, a.command(`{"type":"ping","id":"p"}`), "pong", "")
}

func TestControlRouteRefusals(t *testing.T) {
	n := startPresenceNode(t)
	for _, tc := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/api/disconnect", `{}`, 400, "bad_request"},
		{"/api/disconnect", `{"user":"","session":""}`, 400, "bad_request"},
		{"/api/disconnect", `{"user":"1","session":"2"}`, 400, "bad_request"},
		{"/api/disconnect", `{"user":1}`, 400, "bad_request"},
		{"/api/disconnect", `[1]`, 400, "bad_request"},
		{"/api/subscribe", `{"user":"1"}`, 400, "bad_request"},
		{"/api/subscribe", `{"user":"1","topic":""}`, 400, "invalid_topic"},
		{"/api/unsubscribe", `{"session":"x","topic":"a..b"}`, 400, "invalid_topic"},
		{"/api/subscribe", `{"user":"1","topic":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "message_too_large"},
	} {
		n.control(t, tc.path, tc.body).wantError(t, tc.status, tc.code)
	}
	n.post(t, "/api/subscribe", `{"user":"1","topic":"a"}`).wantError(t, http.StatusUnauthorized, "unauthorized")
	n.get(t, "/api/disconnect", withKey...).wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

// Over real sockets: the watcher hears one join and one leave for a user
// with two connections, and nothing of its own arrival.
func TestJoinAndLeaveOverWebSocket(t *testing.T) {
	n := startPresenceNode(t)
	watcher := userClient(t, n, "1", "")
	wantReply(t, watcher.command(`{"type":"subscribe","id":"w","topic":"room.1","presence":true}`), "subscribed", "")
	tab1, tab2 := userClient(t, n, "2", `{"n":2}`), userClient(t, n, "2", "")
	tab1.subscribe("room.1")
	tab2.subscribe("room.1")
	if r := string(watcher.read()); r != `{"type":"join","topic":"room.1","user":"2","info":{"n":2}}` {
		t.Fatalf("got %s", r)
	}
	tab1.conn.Close()
	wantReply(t, tab2.command(`{"type":"unsubscribe","id":"u","topic":"room.1"}`), "unsubscribed", "")
	if r := string(watcher.read()); r != `{"type":"leave","topic":"room.1","user":"2"}` {
		t.Fatalf("got %s", r)
	}
	wantReply(t, watcher.command(`{"type":"presence","id":"p","topic":"room.1"}`), "presence", "")
}
