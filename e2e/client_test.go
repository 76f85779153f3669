package e2e

// The WebSocket test client every e2e test uses: it keeps each server
// frame both as sent (bytes, RSV1, inflated text) and decoded into frame,
// so a test can check typed fields, raw JSON shapes or compression alike.

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

// wait bounds every read of a test; it only turns a hang into a failure.
const wait = 10 * time.Second

// frame is one server message: its typed fields, and the frame as sent.
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

	rsv1 bool   // the frame came compressed
	raw  []byte // the payload as sent
	text []byte // the JSON text, inflated when it was compressed
}

// obj decodes the frame's JSON text as an object, for shape checks.
func (f frame) obj() map[string]any { return jsonObject(f.text) }

// client is a real WebSocket client. A goroutine reads every frame into
// frames and answers pings; closed gets the close code (0 when the socket
// just ended).
type client struct {
	t          testing.TB
	conn       net.Conn
	session    string // from its welcome
	extensions string // the extensions the 101 accepted, as name;param;...
	frames     chan frame
	closed     chan int
}

type dialOpts struct {
	header  http.Header
	deflate bool // offer permessage-deflate
}

// dial opens a plain client and reads its welcome.
func dial(t testing.TB, url string) *client {
	t.Helper()
	return wsOpen(t, url, dialOpts{})
}

// wsOpen dials, fails unless upgraded, and reads the welcome.
func wsOpen(t testing.TB, url string, o dialOpts) *client {
	t.Helper()
	c, code := wsDial(t, url, o)
	if c == nil {
		t.Fatalf("dial %s: HTTP %d", url, code)
	}
	w := c.next()
	if w.Type != "welcome" || w.Session == "" {
		t.Fatalf("first frame %s, want welcome", w.text)
	}
	c.session = w.Session
	return c
}

// wsDial upgrades; on a refusal it returns nil and the HTTP status.
func wsDial(t testing.TB, url string, o dialOpts) (*client, int) {
	t.Helper()
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	d := ws.Dialer{Timeout: wait, Header: ws.HandshakeHeaderHTTP(h)}
	if o.deflate { // offered as a browser does
		var params httphead.Parameters
		params.Set([]byte("client_max_window_bits"), nil)
		d.Extensions = []httphead.Option{{Name: []byte("permessage-deflate"), Parameters: params}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, url)
	var se ws.StatusError
	if errors.As(err, &se) {
		return nil, int(se)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	// frames holds far more than any test leaves unread (a few hundred),
	// and each is a few hundred bytes: a full one would stall the pongs.
	c := &client{t: t, conn: &frameConn{Conn: conn}, extensions: extensionList(hs.Extensions),
		frames: make(chan frame, 10000), closed: make(chan int, 1)}
	var r io.Reader = conn
	if br != nil { // the server may have sent frames with its handshake reply
		r = io.MultiReader(br, conn)
	}
	go c.readLoop(r)
	return c, http.StatusSwitchingProtocols
}

// extensionList writes accepted extensions as "name;param=value, name".
func extensionList(opts []httphead.Option) string {
	var exts []string
	for _, e := range opts {
		ext := string(e.Name)
		e.Parameters.ForEach(func(k, v []byte) bool {
			ext += ";" + string(k)
			if len(v) > 0 {
				ext += "=" + string(v)
			}
			return true
		})
		exts = append(exts, ext)
	}
	return strings.Join(exts, ", ")
}

func (c *client) readLoop(r io.Reader) {
	defer close(c.frames)
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			c.closed <- 0
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			c.closed <- 0
			return
		}
		if h.Rsv1() && h.OpCode != ws.OpText {
			c.t.Errorf("RSV1 on a frame of opcode %v", h.OpCode)
		}
		switch h.OpCode {
		case ws.OpPing:
			writeFrame(c.conn, ws.OpPong, p)
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			c.closed <- int(code)
			return
		case ws.OpText:
			f := frame{rsv1: h.Rsv1(), raw: p, text: p}
			if f.rsv1 {
				if f.text, err = inflate(p); err != nil {
					c.t.Errorf("a compressed frame does not inflate alone: %v", err)
				}
			}
			if err := json.Unmarshal(f.text, &f); err != nil {
				c.t.Errorf("server sent bad JSON %q: %v", f.text, err)
			}
			c.frames <- f
		default:
			c.t.Errorf("server sent opcode %v", h.OpCode)
		}
	}
}

// inflate decompresses one permessage-deflate message with a fresh
// window, which only works when the server keeps no context.
func inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	var out bytes.Buffer
	_, err := io.Copy(&out, r)
	if err == io.ErrUnexpectedEOF { // the tail we added ends no final block
		err = nil
	}
	return out.Bytes(), err
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

// nextObj is the next frame's JSON object.
func (c *client) nextObj() map[string]any {
	c.t.Helper()
	return c.next().obj()
}

// reply reads until the reply with id, failing on anything but messages.
func (c *client) reply(id string) frame {
	c.t.Helper()
	f, _ := c.replyAfter(id)
	return f
}

// replyAfter is reply, also returning the messages read before the reply.
func (c *client) replyAfter(id string) (frame, []frame) {
	c.t.Helper()
	var msgs []frame
	for {
		f := c.next()
		if f.ID == id {
			return f, msgs
		}
		if f.Type != "message" {
			c.t.Fatalf("got %s while waiting for reply %q", f.text, id)
		}
		msgs = append(msgs, f)
	}
}

// cmd sends a command and returns its reply's JSON object.
func (c *client) cmd(id, format string, args ...any) map[string]any {
	c.t.Helper()
	c.send(format, args...)
	return c.reply(id).obj()
}

func (c *client) subscribe(id, topic string) frame {
	c.t.Helper()
	c.send(`{"type":"subscribe","id":%q,"topic":%q}`, id, topic)
	f := c.reply(id)
	if f.Type != "subscribed" {
		c.t.Fatalf("subscribe %s: %s", topic, f.text)
	}
	return f
}

// quiet fails if a frame is already waiting or arrives soon. It is used
// only after a later event proved the one looked for would be there.
func (c *client) quiet(what string) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Errorf("%s: got %s", what, f.text)
	case <-time.After(100 * time.Millisecond):
	}
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

// answeredClose is closeCode, the server's close frame then answered with
// its code and the socket closed, as a browser does: the node ends the
// session then, where it gives a client that never answers 5 s
// (docs/protocol.md section 12), which a test waiting for what follows
// the session's end would wait out.
func (c *client) answeredClose() int {
	c.t.Helper()
	code := c.closeCode()
	writeFrame(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), ""))
	c.conn.Close()
	return code
}

// clientClose sends a normal close frame and waits for the server's.
func (c *client) clientClose() {
	c.t.Helper()
	writeFrame(c.conn, ws.OpClose, ws.NewCloseFrameBody(1000, ""))
	c.closeCode()
	c.conn.Close()
}
