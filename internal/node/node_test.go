package node_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
)

// wait bounds every network step; it only turns a hang into a failure.
const wait = 10 * time.Second

// countingEngine is a memory engine that counts its Close calls.
type countingEngine struct {
	*memory.Engine
	closes atomic.Int32
}

func (e *countingEngine) Close(ctx context.Context) error {
	e.closes.Add(1)
	return e.Engine.Close(ctx)
}

// serve builds and serves a node on 127.0.0.1:0; it is closed at cleanup
// unless the test closed it first.
func serve(t *testing.T, cfg node.Config) (*node.Node, *countingEngine, string) {
	t.Helper()
	eng := &countingEngine{Engine: memory.New(memory.Config{HistorySize: broker.DefaultHistorySize})}
	n, addr := serveOn(t, cfg, eng)
	return n, eng, addr
}

// serveOn is serve on an engine of the caller's.
func serveOn(t *testing.T, cfg node.Config, eng broker.Engine) (*node.Node, string) {
	t.Helper()
	n, err := node.Build(cfg, eng, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.Serve(l)
	t.Cleanup(func() { closeNode(t, n) })
	return n, l.Addr().String()
}

func closeNode(t *testing.T, n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// client is a WebSocket client that answers nothing, pings included.
type client struct {
	net.Conn
	r io.Reader // what the server sent: the handshake's leftovers first
}

// dial opens a WebSocket to addr and reads its welcome.
func dial(t *testing.T, addr string) (*client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(wait))
	c := &client{Conn: nc, r: nc}
	if br != nil { // frames sent with the handshake reply
		c.r = io.MultiReader(br, nc)
	}
	f, err := ws.ReadFrame(c.r)
	if err != nil || f.Header.OpCode != ws.OpText {
		t.Fatalf("welcome: %v, opcode %v", err, f.Header.OpCode)
	}
	return c, string(f.Payload)
}

// nextFrame reads the next frame but the server's pings (its first, sent
// as a connection opens, and heartbeats), which a client answers by
// itself.
func nextFrame(c *client) (ws.Frame, error) {
	f, err := ws.ReadFrame(c.r)
	for err == nil && f.Header.OpCode == ws.OpPing {
		f, err = ws.ReadFrame(c.r)
	}
	return f, err
}

// closeCode reads frames, answering none, until the server's close frame.
func closeCode(t *testing.T, c *client) ws.StatusCode {
	t.Helper()
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			t.Fatalf("waiting for a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

// A fact several parts read is set once: setting it in a part too is
// refused, so two parts can never be given different values of it.
func TestBuildRefusesAFactSetTwice(t *testing.T) {
	cases := map[string]node.Config{
		"Broker.Heartbeat":          {Broker: broker.Config{Heartbeat: time.Second}},
		"Transport.Heartbeat":       {Heartbeat: time.Second, Transport: transport.Config{Heartbeat: time.Second}},
		"Transport.MaxMessageBytes": {Transport: transport.Config{MaxMessageBytes: 10}},
		"API.MaxMessageBytes":       {API: api.Config{MaxMessageBytes: 10}},
		"Broker.NodeID":             {Broker: broker.Config{NodeID: "n"}},
		"API.Version":               {API: api.Config{Version: "v1"}},
		"Broker.MaxPresenceBytes":   {Broker: broker.Config{MaxPresenceBytes: 1 << 10}},
		"Transport.CommandRate":     {Transport: transport.Config{CommandRate: 100}},
	}
	for field, cfg := range cases {
		eng := memory.New(memory.Config{})
		_, err := node.Build(cfg, eng, nil)
		if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s set twice: Build = %v", field, err)
		}
		if err := eng.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// The heartbeat the broker announces is the one the transport enforces:
// a client silent for two of them is closed with 4002.
func TestOneHeartbeatAnnouncedAndEnforced(t *testing.T) {
	_, _, addr := serve(t, node.Config{Heartbeat: time.Second})
	c, welcome := dial(t, addr)
	if !strings.Contains(welcome, `"heartbeat":1`) {
		t.Fatalf("welcome %s does not announce 1s", welcome)
	}
	start := time.Now()
	if code := closeCode(t, c); code != 4002 {
		t.Fatalf("a silent client was closed with %d, want 4002", code)
	}
	// About two heartbeats of 1s; far from two of the 25s default, which
	// is what a transport left to its own default would wait.
	if took := time.Since(start); took < 1500*time.Millisecond || took > 8*time.Second {
		t.Fatalf("closed after %v, want about two heartbeats of 1s", took)
	}
}

// The message limit the broker checks is the one the API and the
// transport derive theirs from: data over it is refused, and a frame over
// twice it closes the connection with 1009.
func TestOneMessageLimit(t *testing.T) {
	const limit = 64
	_, _, addr := serve(t, node.Config{MaxMessageBytes: limit})
	body := `{"topic":"a","data":"` + strings.Repeat("x", limit) + `"}` // data is limit+2 bytes
	resp, err := (&http.Client{Timeout: wait}).Post("http://"+addr+"/api/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("data over the limit: status %d, want 413", resp.StatusCode)
	}
	c, _ := dial(t, addr)
	frame := `{"type":"publish","topic":"a","data":"` + strings.Repeat("x", 2*limit) + `"}`
	if err := wsutil.WriteClientText(c, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, c); code != ws.StatusMessageTooBig {
		t.Fatalf("a frame over twice the limit closed with %d, want 1009", code)
	}
}

// Close closes WebSockets with 1001, ends serving, closes the engine once,
// and a second Close returns the first's result.
func TestCloseStopsEveryPart(t *testing.T) {
	n, eng, addr := serve(t, node.Config{})
	c, _ := dial(t, addr)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		closed <- n.Close(ctx)
	}()
	if code := closeCode(t, c); code != ws.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	c.Close() // lets the transport finish the close at once
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Served():
	default:
		t.Fatal("still serving after Close")
	}
	if err := n.Close(context.Background()); err != nil || eng.closes.Load() != 1 {
		t.Fatalf("second Close = %v; engine closed %d times, want 1", err, eng.closes.Load())
	}
}

// The version /api/stats reports is the one herald_build_info carries.
func TestOneVersion(t *testing.T) {
	_, _, addr := serve(t, node.Config{Version: "v9.8.7-test"})
	for path, want := range map[string]string{
		"/api/stats": `"version":"v9.8.7-test"`,
		"/metrics":   `herald_build_info{version="v9.8.7-test"} 1`,
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, no %s in\n%.1000s", path, resp.StatusCode, want, body)
		}
	}
}
