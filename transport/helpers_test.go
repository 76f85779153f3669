package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap/zaptest"
)

// Every server test runs on both paths through one body.
var modes = []struct {
	name     string
	portable bool
}{
	{"epoll", false},
	{"portable", true},
}

func forEachMode(t *testing.T, run func(t *testing.T, portable bool)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { run(t, m.portable) })
	}
}

// echoAcceptor is the test's stand-in for the broker: it answers every
// text message with the same text and counts what happens.
type echoAcceptor struct {
	mu       sync.Mutex
	conns    []broker.Conn
	sessions []*echoSession
	welcome  []byte // sent from Open when set, as the broker does
	// pingLimit is how many pings each session lets the transport answer,
	// as the broker's rate limit would; 0: all of them.
	pingLimit int64
}

type echoSession struct {
	c            broker.Conn
	framing      broker.Framing // what the upgrade negotiated
	texts        atomic.Int64
	pings        atomic.Int64
	pingLimit    int64
	disconnected atomic.Int64
}

func (a *echoAcceptor) Open(c broker.Conn, info broker.ClientInfo) Receiver {
	s := &echoSession{c: c, pingLimit: a.pingLimit, framing: info.Framing}
	if a.welcome != nil {
		c.Send(a.welcome)
	}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.sessions = append(a.sessions, s)
	a.mu.Unlock()
	return s
}

func (s *echoSession) HandleText(payload []byte) {
	s.texts.Add(1)
	s.c.Send(ws.MustCompileFrame(ws.NewTextFrame(append([]byte(nil), payload...))))
}

func (s *echoSession) AllowPing() bool {
	return s.pings.Add(1) <= s.pingLimit || s.pingLimit == 0
}

func (s *echoSession) Disconnected() { s.disconnected.Add(1) }

func (a *echoAcceptor) all() []*echoSession {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*echoSession(nil), a.sessions...)
}

type testServer struct {
	srv  *Server
	acc  *echoAcceptor
	addr string // host:port
	url  string // ws://host:port/ws
}

// startServer serves srv.Upgrade on a loopback port; cleanup shuts it down.
func startServer(t *testing.T, portable bool, cfg Config) *testServer {
	t.Helper()
	return startServerWith(t, portable, cfg, &echoAcceptor{})
}

// startServerWith is startServer with the test's own echo acceptor.
func startServerWith(t *testing.T, portable bool, cfg Config, acc *echoAcceptor) *testServer {
	t.Helper()
	return startServerOpening(t, portable, cfg, acc, acc)
}

// startServerOpening is startServerWith whose connections open through
// opener, which records them in acc.
func startServerOpening(t *testing.T, portable bool, cfg Config, opener Acceptor, acc *echoAcceptor) *testServer {
	t.Helper()
	return startServerOn(t, portable, cfg, opener, acc, nil)
}

// startServerOn is startServerOpening whose HTTP server setup changes
// before it starts (its listener, its ConnContext), when not nil.
func startServerOn(t *testing.T, portable bool, cfg Config, opener Acceptor, acc *echoAcceptor, setup func(*httptest.Server)) *testServer {
	t.Helper()
	cfg.Portable = portable
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	cfg.Logger = zaptest.NewLogger(t)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Hijacked requests are not waited for by httptest: handlers counts
	// them, so none logs after its test ended.
	var handlers sync.WaitGroup
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		srv.Upgrade(w, r, broker.ClientInfo{RemoteAddr: r.RemoteAddr}, opener)
	}))
	if setup != nil {
		setup(hs)
	}
	hs.Start()
	t.Cleanup(func() {
		defer handlers.Wait()
		// A closing connection whose client neither answers nor reads,
		// or sends past what the node reads of it, ends only at its
		// CloseTimeout: Shutdown waits that long and more before it
		// calls any connection left unanswered.
		ctx, cancel := context.WithTimeout(context.Background(), srv.cfg.CloseTimeout+5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !strings.Contains(err.Error(), "twice") {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	addr := strings.TrimPrefix(hs.URL, "http://")
	return &testServer{srv: srv, acc: acc, addr: addr, url: "ws://" + addr + "/ws"}
}

const upgradeRequest = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// rawClient is a hand-driven client for frames a real client never sends.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	// openPinged: the ping each connection gets as it opens (pingBaseline)
	// was read and left unanswered, as some clients do; next skips it.
	openPinged bool
}

// dialRaw upgrades a raw TCP connection; extra is written in the same
// write as the request.
func dialRaw(t *testing.T, addr string, extra []byte) *rawClient {
	t.Helper()
	return dialRawWith(t, &net.Dialer{Timeout: 5 * time.Second}, addr, extra)
}

func dialRawWith(t *testing.T, d *net.Dialer, addr string, extra []byte) *rawClient {
	t.Helper()
	c, _ := dialRawRequest(t, d, addr, upgradeRequest, extra)
	return c
}

// dialRawRequest upgrades with request, and returns the 101's headers too.
func dialRawRequest(t *testing.T, d *net.Dialer, addr, request string, extra []byte) (*rawClient, http.Header) {
	t.Helper()
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append([]byte(request), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d", resp.StatusCode)
	}
	return &rawClient{t: t, nc: nc, br: br}, resp.Header
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one server frame but the open ping; server frames are never
// masked.
func (c *rawClient) next() (ws.Frame, error) {
	f, err := ws.ReadFrame(c.br)
	if err == nil && f.Header.Masked {
		return f, fmt.Errorf("server frame is masked")
	}
	if err == nil && !c.openPinged && f.Header.OpCode == ws.OpPing && len(f.Payload) == 8 {
		c.openPinged = true
		return c.next()
	}
	return f, err
}

// closeCode reads frames until a close frame and returns its code, and
// checks the server then ends the connection.
func (c *rawClient) closeCode() ws.StatusCode {
	c.t.Helper()
	code, err := c.readCloseCode()
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// readCloseCode is closeCode for goroutines other than the test's.
func (c *rawClient) readCloseCode() (ws.StatusCode, error) {
	for {
		f, err := c.next()
		if err != nil {
			return 0, fmt.Errorf("reading for a close frame: %w", err)
		}
		if f.Header.OpCode != ws.OpClose {
			continue
		}
		var code ws.StatusCode
		if len(f.Payload) >= 2 {
			code = ws.StatusCode(binary.BigEndian.Uint16(f.Payload))
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			return code, fmt.Errorf("after the close frame: %v, want EOF", err)
		}
		c.nc.Close() // as a client does once the close handshake is done
		return code, nil
	}
}

// closeFrame reads up to the close frame and returns its code and reason.
func (c *rawClient) closeFrame() (ws.StatusCode, string) {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading for a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose && len(f.Payload) >= 2 {
			return ws.StatusCode(binary.BigEndian.Uint16(f.Payload)), string(f.Payload[2:])
		}
	}
}

// text reads frames until a text frame and returns its payload.
func (c *rawClient) text() string {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading for a text frame: %v", err)
		}
		switch f.Header.OpCode {
		case ws.OpText:
			return string(f.Payload)
		case ws.OpClose:
			c.t.Fatalf("close frame %v while waiting for text", f.Payload)
		}
	}
}

// frame builds a client frame; masked as clients must unless told.
func frame(op ws.OpCode, fin bool, payload []byte) []byte {
	return rawFrame(ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(payload))}, payload)
}

func rawFrame(h ws.Header, payload []byte) []byte {
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	p := append([]byte(nil), payload...)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	b.Write(p)
	return b.Bytes()
}

func closeBody(code ws.StatusCode, reason string) []byte {
	b := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(b, uint16(code))
	return append(b, reason...)
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
