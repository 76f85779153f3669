package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
)

// wsClient is one WebSocket client of a test node.
type wsClient struct {
	t    *testing.T
	conn net.Conn
}

func dial(t *testing.T, n *node, query string, header http.Header) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}
	conn, br, _, err := d.Dial(ctx, "ws://"+n.addr+"/ws"+query)
	if err != nil {
		return nil, err
	}
	if br != nil {
		// The server's first frames came with the handshake reply.
		conn = bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	c := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	return c, nil
}

// bufferedConn reads what the handshake left buffered before the socket.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func mustDial(t *testing.T, n *node) *wsClient {
	t.Helper()
	c, err := dial(t, n, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.read(); !bytes.Contains(w, []byte(`"type":"welcome"`)) {
		t.Fatalf("first message %s is not a welcome", w)
	}
	return c
}

// read returns the next text message; it fails the test on anything else.
func (c *wsClient) read() []byte {
	c.t.Helper()
	msg, err := c.next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return msg
}

func (c *wsClient) next() ([]byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return wsutil.ReadServerText(c.conn)
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsClient) subscribe(topic string) {
	c.t.Helper()
	c.send(`{"type":"subscribe","id":"s","topic":"` + topic + `"}`)
	if r := c.read(); !bytes.Contains(r, []byte(`"type":"subscribed"`)) {
		c.t.Fatalf("subscribe %s: %s", topic, r)
	}
}

func TestHTTPPublishReachesSubscribers(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	a, b := mustDial(t, n), mustDial(t, n)
	a.subscribe("chat.lobby")
	b.subscribe("chat.*")
	data := `{"text": "héllo \u00e9 \"q\"",  "n":[1, 2.50, -0e3], "nested": {"deep": null}}`
	var pub published
	n.post(t, "/api/publish", `{"topic":"chat.lobby","data":`+data+`}`).wantOK(t, &pub)

	for i, c := range []*wsClient{a, b} {
		raw := c.read()
		if !bytes.Contains(raw, []byte(`"data":`+data)) {
			t.Fatalf("client %d: %s does not carry data byte for byte", i, raw)
		}
		var m struct {
			Type, Topic, Msg, Pattern string
			Seq                       uint64
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "message" || m.Topic != "chat.lobby" || m.Seq != pub.Seq || m.Msg != pub.Msg {
			t.Fatalf("client %d: %s, published %+v", i, raw, pub)
		}
		if (i == 1) != (m.Pattern == "chat.*") {
			t.Fatalf("client %d: pattern %q", i, m.Pattern)
		}
	}
}

func TestTopicsCountsSubscribers(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	a, b := mustDial(t, n), mustDial(t, n)
	a.subscribe("news")
	b.subscribe("news")
	b.subscribe("chat.>")
	var got struct{ Topics []broker.TopicCount }
	n.get(t, "/api/topics").wantOK(t, &got)
	counts := map[string]int{}
	for _, tc := range got.Topics {
		counts[tc.Topic] = tc.Subscribers
	}
	if len(counts) != 2 || counts["news"] != 2 || counts["chat.>"] != 1 {
		t.Fatalf("topics: %+v", got.Topics)
	}
	var st struct{ Connections, Subscriptions int64 }
	n.get(t, "/api/stats").wantOK(t, &st)
	if st.Connections != 2 || st.Subscriptions != 3 {
		t.Fatalf("stats: %+v", st)
	}
}

// The client reads its close only once Shutdown returned, which waits
// for the client's answer until the close deadline: 1 s here, not 5.
func TestShutdownClosesClientsWith1001(t *testing.T) {
	n := startNodeClosingIn(t, api.Config{}, nil, time.Second)
	c := mustDial(t, n)
	c.subscribe("news")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.next()
	var closed wsutil.ClosedError
	if !errors.As(err, &closed) || closed.Code != ws.StatusGoingAway {
		t.Fatalf("after shutdown the client read %v, want a close frame with 1001", err)
	}
	if _, err := dial(t, n, "", nil); err == nil {
		t.Fatal("a client connected after shutdown")
	}
	h := n.srv.Handler()
	recorded(serveFrom(h, "127.0.0.1:1", "GET", "/readyz", "")).wantError(t, http.StatusServiceUnavailable, "unavailable")
	recorded(serveFrom(h, "127.0.0.1:1", "GET", "/ws", "")).wantError(t, http.StatusServiceUnavailable, "unavailable")
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Fatalf("a second Shutdown: %v", err)
	}
}

// fakeTokens accepts the token "good" as user 42.
type fakeTokens struct{}

func (fakeTokens) Verify(token string) (broker.ClientInfo, error) {
	if token != "good" {
		return broker.ClientInfo{}, broker.Errorf(broker.CodeUnauthorized, "token signature is invalid")
	}
	return broker.ClientInfo{Subject: "42"}, nil
}

func TestTokenVerifierPlugsIn(t *testing.T) {
	n := startNode(t, api.Config{Tokens: fakeTokens{}}, nil)
	h := n.srv.Handler()
	msg := recorded(serveFrom(h, "127.0.0.1:1", "GET", "/ws", "")).wantError(t, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(msg, "token") {
		t.Fatalf("message %q", msg)
	}
	msg = recorded(serveFrom(h, "127.0.0.1:1", "GET", "/ws?token=bad", "")).wantError(t, http.StatusUnauthorized, "unauthorized")
	if msg != "token signature is invalid" {
		t.Fatalf("message %q does not give the verifier's reason", msg)
	}
	if _, err := dial(t, n, "?token=bad", nil); err == nil {
		t.Fatal("a bad token was let in")
	}
	for _, try := range []struct {
		query  string
		header http.Header
	}{{"?token=good", nil}, {"", http.Header{"Authorization": {"Bearer good"}}}} {
		c, err := dial(t, n, try.query, try.header)
		if err != nil {
			t.Fatalf("a good token was refused: %v", err)
		}
		if w := c.read(); !bytes.Contains(w, []byte(`"welcome"`)) {
			t.Fatalf("no welcome: %s", w)
		}
	}
}
