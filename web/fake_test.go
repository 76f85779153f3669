package web

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeHerald is just enough of a Herald node for browser tests: it serves
// Handler at /, a test page, and a /ws whose every connection is handed to
// the test, which plays the server's side of docs/protocol.md by hand.
type fakeHerald struct {
	t     *testing.T
	srv   *httptest.Server
	mux   *http.ServeMux
	conns chan *fakeConn

	mu     sync.Mutex
	open   []*fakeConn
	refuse func(url.Values) *refusal // nil, or what /ws answers instead of upgrading
	asked  []string                  // tokens of the plain (non-upgrade) GETs of /ws
	hold   bool                      // upgrades held unanswered (holdUpgrades)
	wg     sync.WaitGroup            // the connections' read loops
}

// testPage loads herald.js and hands its exports to the tests as window.herald.
const testPage = `<!doctype html><title>herald.js test</title><link rel="icon" href="/favicon.svg">
<script type="module">
import * as herald from '/herald.js';
window.herald = herald;
window.wsURL = location.origin.replace(/^http/, 'ws') + '/ws';
window.heraldReady = true;
</script>`

func newFakeHerald(t *testing.T) *fakeHerald {
	f := &fakeHerald{t: t, mux: http.NewServeMux(), conns: make(chan *fakeConn, 16)}
	f.mux.Handle("/", Handler())
	f.mux.HandleFunc("/ws", f.upgrade)
	f.mux.HandleFunc("/test.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(testPage))
	})
	f.srv = httptest.NewServer(f.mux) // 127.0.0.1:0
	t.Cleanup(f.close)
	return f
}

func (f *fakeHerald) url(path string) string { return f.srv.URL + path }

// refusal is an answer to /ws before the upgrade, as docs/protocol.md
// section 2 says the server refuses.
type refusal struct {
	status        int
	code, message string
}

// refuseWith makes /ws answer, upgrade or plain GET, as fn says for the
// request's query (nil: upgrade).
func (f *fakeHerald) refuseWith(fn func(url.Values) *refusal) {
	f.mu.Lock()
	f.refuse = fn
	f.mu.Unlock()
}

// holdUpgrades makes /ws hold every upgrade unanswered until the client
// gives up on it, as a proxy blocking WebSocket may, or a node far slower
// than the client's timeout looks to it; false upgrades them again.
// Plain GETs are answered as ever.
func (f *fakeHerald) holdUpgrades(hold bool) {
	f.mu.Lock()
	f.hold = hold
	f.mu.Unlock()
}

// askedTokens lists the token of every plain GET of /ws so far.
func (f *fakeHerald) askedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

func (f *fakeHerald) upgrade(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	refuse, hold := f.refuse, f.hold
	plain := r.Header.Get("Upgrade") == ""
	if plain {
		f.asked = append(f.asked, r.URL.Query().Get("token"))
	}
	f.mu.Unlock()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if refuse != nil {
		if no := refuse(r.URL.Query()); no != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(no.status)
			body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": no.code, "message": no.message}})
			_, _ = w.Write(body)
			return
		}
	}
	if hold && !plain {
		select {
		case <-r.Context().Done(): // the client gave up
		case <-time.After(browserTimeout):
		}
		return
	}
	if plain { // as gobwas/ws answers it on a real node
		http.Error(w, "handshake error: bad \"Upgrade\" header", http.StatusBadRequest)
		return
	}
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		f.t.Errorf("upgrade: %v", err)
		return
	}
	c := &fakeConn{t: f.t, conn: conn, query: r.URL.Query(), cmds: make(chan map[string]any, 64), done: make(chan struct{})}
	f.mu.Lock()
	f.open = append(f.open, c)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		c.readLoop()
	}()
	select {
	case f.conns <- c:
	default:
		f.t.Errorf("fake: more connections than the test takes")
	}
}

// accept waits for the page's next WebSocket connection.
func (f *fakeHerald) accept(ctx context.Context) *fakeConn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-ctx.Done():
		f.t.Fatalf("no WebSocket connection came: %v", ctx.Err())
		return nil
	}
}

// acceptSubscribed accepts the client's next connection, welcomes it and
// answers its first subscribe (an exact topic) with epoch and seq.
func (f *fakeHerald) acceptSubscribed(ctx context.Context, epoch string, seq int) *fakeConn {
	f.t.Helper()
	c := f.accept(ctx)
	c.welcome()
	c.send(subscribed(c.expect(ctx, "subscribe"), epoch, seq))
	return c
}

func (f *fakeHerald) close() {
	f.mu.Lock()
	for _, c := range f.open {
		close(c.done)
		_ = c.conn.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	f.srv.Close()
}

// fakeConn is the server's end of one WebSocket. Only the test goroutine
// writes to it; its read loop only reads.
type fakeConn struct {
	t     *testing.T
	conn  net.Conn
	query url.Values
	cmds  chan map[string]any
	done  chan struct{}
	// closing is set by closeWith before its close frame goes: the
	// client's answer to it must not be answered again. A second close
	// frame makes Chromium fail the connection ("Close received after
	// close", code 1006), as happened when the test goroutine was slow to
	// drop the socket after its close frame.
	closing atomic.Bool
}

func (c *fakeConn) readLoop() {
	defer close(c.cmds)
	for {
		data, op, err := c.readData()
		if err != nil {
			return
		}
		if op != ws.OpText {
			continue
		}
		var cmd map[string]any
		if err := json.Unmarshal(data, &cmd); err != nil {
			c.t.Errorf("client sent something that is not JSON: %q", data)
			continue
		}
		select {
		case c.cmds <- cmd:
		case <-c.done:
			return
		}
	}
}

// readData is wsutil.ReadClientData whose control frames are answered as
// it answers them, but for the client's answer to closeWith's frame.
func (c *fakeConn) readData() ([]byte, ws.OpCode, error) {
	answer := wsutil.ControlFrameHandler(c.conn, ws.StateServerSide)
	rd := wsutil.DefaultReader(c.conn, ws.StateServerSide)
	control := func(h ws.Header, r io.Reader) error {
		if h.OpCode == ws.OpClose && c.closing.Load() {
			return io.EOF
		}
		return answer(h, r)
	}
	rd.OnIntermediate = control
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return nil, 0, err
		}
		if h.OpCode.IsControl() {
			if err := control(h, rd); err != nil {
				return nil, 0, err
			}
			continue
		}
		data, err := io.ReadAll(rd)
		return data, h.OpCode, err
	}
}

func (c *fakeConn) send(frame map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Fatalf("encoding %v: %v", frame, err)
	}
	if err := wsutil.WriteServerText(c.conn, b); err != nil {
		c.t.Fatalf("sending %s: %v", b, err)
	}
}

func (c *fakeConn) welcome() {
	c.send(map[string]any{"type": "welcome", "session": "s-1", "node": "fake", "heartbeat": 25})
}

// expect returns the client's next command, which must be of type typ.
// Pings are answered and skipped: the client may send them whenever it likes.
func (c *fakeConn) expect(ctx context.Context, typ string) map[string]any {
	c.t.Helper()
	for {
		select {
		case cmd, ok := <-c.cmds:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %q", typ)
			}
			if cmd["type"] == "ping" && typ != "ping" {
				c.send(map[string]any{"type": "pong", "id": cmd["id"]})
				continue
			}
			if cmd["type"] != typ {
				c.t.Fatalf("client sent %v, want a %q", cmd, typ)
			}
			return cmd
		case <-ctx.Done():
			c.t.Fatalf("no %q came: %v", typ, ctx.Err())
		}
	}
}

// closeWith sends a close frame with code, then drops the socket.
func (c *fakeConn) closeWith(code ws.StatusCode, reason string) {
	c.closing.Store(true)
	frame := ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason))
	if err := ws.WriteFrame(c.conn, frame); err != nil {
		c.t.Errorf("close frame: %v", err)
	}
	_ = c.conn.Close()
}

// drop closes the socket without a close frame, as a dying node would.
func (c *fakeConn) drop() { _ = c.conn.Close() }

func (c *fakeConn) token() string { return c.query.Get("token") }

// message is a message frame as the server sends it.
func message(topic string, seq int, data any) map[string]any {
	return map[string]any{"type": "message", "topic": topic, "seq": seq,
		"msg": "m-" + strings.ReplaceAll(topic, ".", "-") + "-" + itoa(seq), "time": 1764074400123, "data": data}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
