package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// wait bounds every read of a test; it only turns a hang into a failure.
const wait = 10 * time.Second

// frame is one server message as the tests look at it.
type frame struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Topic     string          `json:"topic"`
	Pattern   string          `json:"pattern"`
	Epoch     string          `json:"epoch"`
	Seq       uint64          `json:"seq"`
	Msg       string          `json:"msg"`
	Code      string          `json:"code"`
	Recovered *bool           `json:"recovered"`
	Data      json.RawMessage `json:"data"`
	Session   string          `json:"session"`
	From      uint64          `json:"from"` // of a gap
	To        uint64          `json:"to"`
	Node      string          `json:"node"`
	User      string          `json:"user"`   // of a join or leave
	Reason    string          `json:"reason"` // of an unsubscribed the server sent
	Server    bool            `json:"server"` // of a subscribed the server made
	Users     int             `json:"users"`  // of a presence reply
	Sessions  int             `json:"sessions"`
}

// client is a real WebSocket client. A goroutine reads every frame into
// frames; closed gets the close code (0 when the socket just ended).
type client struct {
	t       testing.TB
	session string // from its welcome
	conn    net.Conn
	r       io.Reader
	frames  chan frame
	closed  chan int
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &client{t: t, conn: &frameConn{Conn: conn}, r: conn, frames: make(chan frame, 100000), closed: make(chan int, 1)}
	if br != nil { // the server may have sent frames with its handshake reply
		c.r = io.MultiReader(br, conn)
	}
	go c.readLoop()
	t.Cleanup(func() { conn.Close() })
	w := c.next()
	if w.Type != "welcome" || w.Session == "" {
		t.Fatalf("first frame %+v, want welcome", w)
	}
	c.session = w.Session
	return c
}

func (c *client) readLoop() {
	defer close(c.frames)
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			c.closed <- 0
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			c.closed <- 0
			return
		}
		switch h.OpCode {
		case ws.OpPing:
			writeFrame(c.conn, ws.OpPong, payload)
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(payload)
			c.closed <- int(code)
			return
		case ws.OpText:
			var f frame
			if err := json.Unmarshal(payload, &f); err != nil {
				c.t.Errorf("server sent bad JSON %q: %v", payload, err)
			}
			c.frames <- f
		}
	}
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	if err := writeFrame(c.conn, ws.OpText, fmt.Appendf(nil, format, args...)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) next() frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection ended while a frame was expected")
		}
		return f
	case <-time.After(wait):
		c.t.Fatal("no frame in time")
	}
	return frame{}
}

// reply reads until the reply with id, failing on anything but messages.
func (c *client) reply(id string) frame {
	c.t.Helper()
	for {
		f := c.next()
		if f.ID == id {
			return f
		}
		if f.Type != "message" {
			c.t.Fatalf("got %+v while waiting for reply %q", f, id)
		}
	}
}

func (c *client) subscribe(id, topic string) frame {
	c.t.Helper()
	c.send(`{"type":"subscribe","id":%q,"topic":%q}`, id, topic)
	f := c.reply(id)
	if f.Type != "subscribed" {
		c.t.Fatalf("subscribe %s: %+v", topic, f)
	}
	return f
}

// closeCode waits for the connection to end and returns its close code.
func (c *client) closeCode() int {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case code := <-c.closed:
			return code
		case <-c.frames: // drain what came before the close
		case <-deadline:
			c.t.Fatal("connection not closed in time")
			return -1
		}
	}
}

var httpClient = &http.Client{Timeout: wait}

// publish posts one message and returns the seq it got.
func publish(t testing.TB, n *node, topic string, data string) uint64 {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"data":%s}`, topic, data)
	resp, err := httpClient.Post(n.base+"/api/publish", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Errorf("publish: %v", err)
		return 0
	}
	defer resp.Body.Close()
	var r struct{ Seq uint64 }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Errorf("publish: status %d, %v", resp.StatusCode, err)
	}
	return r.Seq
}
