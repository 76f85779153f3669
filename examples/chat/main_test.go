package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
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

const wait = 10 * time.Second

// syncBuffer is the app's log, read by the test while the app writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The app beside a real node: a logged-in browser's cookie lets its
// WebSocket in through the connect hook, the subscribe hook keeps
// chat.secret for admin, and the webhooks reach the app's log, signed.
func TestChatBesideANode(t *testing.T) {
	logs := &syncBuffer{}
	secret := []byte("test-secret")
	a := newApp(config{Secret: secret, Log: log.New(logs, "", 0)})
	appSrv := httptest.NewServer(a)
	t.Cleanup(appSrv.Close)
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "chat-test",
		Broker: broker.Config{PresenceTopics: []string{"chat.*"}},
		Hooks: node.Hooks{
			ConnectURL: appSrv.URL + "/herald/connect", SubscribeURL: appSrv.URL + "/herald/subscribe",
			SubscribeTopics: []string{"chat.>"}, WebhookURL: appSrv.URL + "/herald/events",
			Secret: secret, VacatedDelay: 50 * time.Millisecond,
		},
	}})
	a.cfg.HeraldURL = n.Base

	cookie := login(t, appSrv.URL, "ann")
	page := get(t, appSrv.URL+"/", cookie)
	if !strings.Contains(page, "Logged in as <b>ann</b>") || !strings.Contains(page, n.Addr+"/herald.js") {
		t.Fatalf("chat page:\n%s", page)
	}
	if _, err := dial(n.WS, ""); err == nil {
		t.Fatal("a connection without the session cookie was let in")
	}
	c, err := dial(n.WS, cookie)
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, `{"type":"subscribe","id":"1","topic":"chat.lobby"}`)
	if r := c.reply(t, "1"); r["type"] != "subscribed" {
		t.Fatalf("chat.lobby: %v", r)
	}
	c.send(t, `{"type":"subscribe","id":"2","topic":"chat.secret"}`)
	if r := c.reply(t, "2"); r["code"] != "forbidden" {
		t.Fatalf("chat.secret: %v", r)
	}
	c.send(t, `{"type":"publish","id":"3","topic":"chat.lobby","data":{"user":"ann","text":"hi"}}`)
	if r := c.reply(t, "3"); r["type"] != "published" {
		t.Fatalf("publish: %v", r)
	}
	c.conn.Close()
	for _, want := range []string{
		`connect: session`, `is ann`, `subscribe: ann may not join chat.secret`,
		`"name":"topic_occupied","topic":"chat.lobby"`, `"name":"member_added","topic":"chat.lobby","user":"ann"`,
		`"name":"client_disconnected"`, `"name":"topic_vacated","topic":"chat.lobby"`,
	} {
		deadline := time.Now().Add(wait)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the app never logged %s; its log:\n%s", want, logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A forged webhook is refused.
	resp, err := http.Post(appSrv.URL+"/herald/events", "application/json", strings.NewReader(`{"time_ms":1,"events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unsigned webhook: %d", resp.StatusCode)
	}
}

// login posts the login form and returns the session cookie as a
// browser would send it.
func login(t *testing.T, base, name string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no session cookie after login (status %d)", resp.StatusCode)
	return ""
}

func get(t *testing.T, url, cookie string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

type wsConn struct {
	conn io.ReadWriteCloser
	r    io.Reader
}

func dial(wsURL, cookie string) (*wsConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {cookie}})}
	conn, br, _, err := d.Dial(ctx, wsURL)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(wait))
	c := &wsConn{conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	return c, nil
}

func (c *wsConn) send(t *testing.T, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func (c *wsConn) reply(t *testing.T, id string) map[string]any {
	t.Helper()
	rw := struct {
		io.Reader
		io.Writer
	}{c.r, c.conn}
	for {
		b, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["id"] == id {
			return m
		}
	}
}
