package e2e

// Helpers of the tests written from the wire protocol alone (spec_*_test.go):
// they drive herald processes only through what a user sees, sockets and
// HTTP, and look at replies as raw JSON so that field names and shapes are
// checked, not only values.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

const specSecret = "herald-e2e-spec-secret-0123456789"

// specToken signs claims with specSecret; exp defaults to an hour ahead.
func specToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(specSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wsFrame is one data frame from the server, inflated when it was compressed.
type wsFrame struct {
	rsv1 bool
	raw  []byte // the payload as sent
	text []byte // the JSON text
}

// obj decodes the frame's JSON text as an object.
func (f wsFrame) obj() map[string]any {
	var m map[string]any
	json.Unmarshal(f.text, &m)
	return m
}

// wsConn is a WebSocket client that keeps every frame as sent, so tests
// can compare bytes, look at RSV1 and at the upgrade's reply headers.
type wsConn struct {
	t          testing.TB
	conn       net.Conn
	extensions string // the extensions the 101 accepted, as name;param;...
	deflate    bool   // the client offered permessage-deflate
	session    string
	frames     chan wsFrame
	closed     chan int
}

type dialOpts struct {
	header  http.Header
	deflate bool // offer permessage-deflate
}

// wsDial upgrades; on a refusal it returns nil and the HTTP status.
func wsDial(t testing.TB, url string, o dialOpts) (*wsConn, int) {
	t.Helper()
	c := &wsConn{t: t, deflate: o.deflate, frames: make(chan wsFrame, 10000), closed: make(chan int, 1)}
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
	c.conn = &frameConn{Conn: conn}
	var exts []string
	for _, e := range hs.Extensions {
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
	c.extensions = strings.Join(exts, ", ")
	t.Cleanup(func() { conn.Close() })
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	go c.readLoop(r)
	return c, http.StatusSwitchingProtocols
}

// wsOpen dials, fails unless upgraded, and reads the welcome.
func wsOpen(t testing.TB, url string, o dialOpts) *wsConn {
	t.Helper()
	c, code := wsDial(t, url, o)
	if c == nil {
		t.Fatalf("dial %s: HTTP %d", url, code)
	}
	w := c.next()
	if w.obj()["type"] != "welcome" {
		t.Fatalf("first frame %s, want welcome", w.text)
	}
	c.session, _ = w.obj()["session"].(string)
	return c
}

func (c *wsConn) readLoop(r io.Reader) {
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
			f := wsFrame{rsv1: h.Rsv1(), raw: p, text: p}
			if f.rsv1 {
				if f.text, err = inflate(p); err != nil {
					c.t.Errorf("a compressed frame does not inflate alone: %v", err)
				}
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

func (c *wsConn) send(format string, args ...any) {
	c.t.Helper()
	if err := writeFrame(c.conn, ws.OpText, fmt.Appendf(nil, format, args...)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsConn) next() wsFrame {
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
	return wsFrame{}
}

// nextObj is the next frame's JSON object.
func (c *wsConn) nextObj() map[string]any {
	c.t.Helper()
	return c.next().obj()
}

// reply reads frames until the one with id, failing on anything but
// messages, joins and leaves in between.
func (c *wsConn) reply(id string) map[string]any {
	c.t.Helper()
	for {
		m := c.nextObj()
		if m["id"] == id {
			return m
		}
		if m["type"] != "message" {
			c.t.Fatalf("got %v while waiting for reply %q", m, id)
		}
	}
}

// cmd sends a command and returns its reply.
func (c *wsConn) cmd(id, format string, args ...any) map[string]any {
	c.t.Helper()
	c.send(format, args...)
	return c.reply(id)
}

// quiet fails if a frame is already waiting or arrives soon. It is used
// only after a later event proved the one looked for would be there.
func (c *wsConn) quiet(what string) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Errorf("%s: got %s", what, f.text)
	case <-time.After(100 * time.Millisecond):
	}
}

func (c *wsConn) closeCode() int {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case code := <-c.closed:
			return code
		case <-c.frames:
		case <-deadline:
			c.t.Fatal("connection not closed in time")
			return -1
		}
	}
}

// clientClose sends a normal close frame and waits for the server's.
func (c *wsConn) clientClose() {
	writeFrame(c.conn, ws.OpClose, ws.NewCloseFrameBody(1000, ""))
	c.closeCode()
	c.conn.Close()
}

// jsonEq fails unless got (any JSON value) equals want (JSON text).
func jsonEq(t testing.TB, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	g, _ := json.Marshal(got)
	var gv any
	json.Unmarshal(g, &gv)
	if !reflect.DeepEqual(gv, w) {
		t.Errorf("%s: got %s, want %s", what, g, want)
	}
}

// keys lists m's field names, sorted, for shape checks.
func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

// httpDo sends a request and returns the status, headers and body.
func httpDo(t testing.TB, method, url string, header http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorCode is the code of a section 3 error body, "" when it is none.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// sseEvent is one event of a stream, or a comment.
type sseEvent struct {
	event, data, id string
	comment         string
}

// sseStream is an open GET /sse.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	sawCR  chan struct{}
	cancel context.CancelFunc
}

// sseOpen opens a stream; a refusal returns the response with a nil stream.
func sseOpen(t testing.TB, url string, header http.Header) (*sseStream, *http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp, b
	}
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 10000), sawCR: make(chan struct{}, 1), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go s.readLoop()
	return s, resp, nil
}

func (s *sseStream) readLoop() {
	defer close(s.events)
	r := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.Contains(line, "\r") {
			select {
			case s.sawCR <- struct{}{}:
			default:
			}
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if seen {
				ev.data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data, seen = sseEvent{}, nil, false
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{comment: strings.TrimPrefix(line, ":")}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			seen = true
			switch field {
			case "event":
				ev.event = value
			case "data":
				data = append(data, value)
			case "id":
				ev.id = value
			}
		}
	}
}

// next is the next event, skipping comments.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("stream ended while an event was expected")
			}
			if ev.comment != "" {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatal("no event in time")
		}
	}
}

// dataObj decodes an event's data as an object.
func (ev sseEvent) dataObj() map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(ev.data), &m)
	return m
}

// untilEnd reads the stream to its end and returns its last event.
func (s *sseStream) untilEnd() sseEvent {
	s.t.Helper()
	deadline := time.After(wait)
	var last sseEvent
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return last
			}
			if ev.comment == "" {
				last = ev
			}
		case <-deadline:
			s.t.Fatal("stream did not end in time")
		}
	}
}
