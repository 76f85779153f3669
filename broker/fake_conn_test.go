package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConn checks every frame it is sent and decodes its JSON.
type fakeConn struct {
	t         testing.TB
	mu        sync.Mutex
	msgs      []map[string]any
	closeCode int
	changed   chan struct{} // closed and replaced on every change
}

func newFakeConn(t testing.TB) *fakeConn {
	return &fakeConn{t: t, changed: make(chan struct{})}
}

func (c *fakeConn) Send(frame []byte) bool {
	payload, err := parseServerFrame(frame)
	if err != nil {
		c.t.Errorf("bad frame: %v", err)
		return false
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		c.t.Errorf("frame payload is not a JSON object: %v: %s", err, payload)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeCode != 0 {
		return false
	}
	c.msgs = append(c.msgs, m)
	c.notifyLocked()
	return true
}

func (c *fakeConn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeCode == 0 {
		c.closeCode = code
		c.notifyLocked()
	}
}

func (c *fakeConn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// parseServerFrame checks an unmasked final text frame (RFC 6455 section
// 5.2) and returns its payload, inflated when RSV1 marks it compressed
// (RFC 7692).
func parseServerFrame(f []byte) ([]byte, error) {
	if len(f) >= 2 && f[0] == finText|rsv1 {
		p, err := parseServerFrame(append([]byte{finText}, f[1:]...))
		if err != nil {
			return nil, err
		}
		return inflate(p)
	}
	if len(f) < 2 || f[0] != finText {
		return nil, fmt.Errorf("first byte %#x, want FIN and text", f[0])
	}
	if f[1]&0x80 != 0 {
		return nil, fmt.Errorf("server frame is masked")
	}
	n, h := uint64(f[1]&0x7F), 2
	switch n {
	case 126:
		n, h = uint64(binary.BigEndian.Uint16(f[2:])), 4
		if n < 126 {
			return nil, fmt.Errorf("length %d not minimally encoded", n)
		}
	case 127:
		n, h = binary.BigEndian.Uint64(f[2:]), 10
		if n <= 0xFFFF {
			return nil, fmt.Errorf("length %d not minimally encoded", n)
		}
	}
	if uint64(len(f)-h) != n {
		return nil, fmt.Errorf("header says %d bytes, frame has %d", n, len(f)-h)
	}
	return f[h:], nil
}

// waitFor waits until cond holds over the conn's state, failing after 10s.
// Only the test's goroutine may call it; others use await.
func (c *fakeConn) waitFor(t testing.TB, what string, cond func(msgs []map[string]any, code int) bool) {
	t.Helper()
	if !c.await(10*time.Second, cond) {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("timed out waiting for %s; got %v, close %d", what, c.msgs, c.closeCode)
	}
}

// await waits up to d until cond holds over the conn's state and reports
// whether it did. Safe from any goroutine.
func (c *fakeConn) await(d time.Duration, cond func(msgs []map[string]any, code int) bool) bool {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok := cond(c.msgs, c.closeCode)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// hasReply holds once the reply carrying id arrived.
func hasReply(id string) func(msgs []map[string]any, _ int) bool {
	return func(msgs []map[string]any, _ int) bool {
		for _, m := range msgs {
			if m["id"] == id {
				return true
			}
		}
		return false
	}
}

// reply waits for the reply carrying id and returns it.
func (c *fakeConn) reply(t testing.TB, id string) map[string]any {
	t.Helper()
	c.waitFor(t, "reply "+id, hasReply(id))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m["id"] == id {
			return m
		}
	}
	return nil // not reached: waitFor saw it
}

// ofType returns the messages of type typ received so far.
func (c *fakeConn) ofType(typ string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, m := range c.msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func (c *fakeConn) code() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// client is one fake connection with its session.
type client struct {
	*fakeConn
	s       *Session
	settles int // settle's pings so far: each waits for its own pong
}

func connect(t testing.TB, b *Broker, info ClientInfo) *client {
	c := newFakeConn(t)
	return &client{fakeConn: c, s: b.Connect(c, info)}
}

// do sends one command and waits for its reply, which it returns.
func (c *client) do(t testing.TB, id, format string, args ...any) map[string]any {
	t.Helper()
	c.s.HandleText([]byte(fmt.Sprintf(format, args...)))
	return c.reply(t, id)
}

// settle waits until c's session ran every command before this one: the
// subscribed reply goes out before the subscription goes live. Each ping
// has an id of its own, as a second settle would otherwise find the
// first one's pong and wait for nothing.
func settle(t testing.TB, c *client) {
	t.Helper()
	c.settles++
	id := "settle" + strconv.Itoa(c.settles)
	c.do(t, id, `{"type":"ping","id":"%s"}`, id)
}

func newTestBroker(t testing.TB, cfg Config) (*Broker, *fakeEngine) {
	e := newFakeEngine()
	if cfg.NodeID == "" {
		cfg.NodeID = "node-1"
	}
	b := New(cfg, e)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if e.doubleSub != nil {
			t.Error(e.doubleSub)
		}
	})
	return b, e
}

func num(t testing.TB, v any) uint64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	u, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(u)
}

// rawConn keeps frame payloads as text, for byte-exact checks.
type rawConn struct {
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{}
}

func newFakeConnRaw(t testing.TB) *rawConn { return &rawConn{changed: make(chan struct{})} }

func (c *rawConn) Send(frame []byte) bool {
	p, err := parseServerFrame(frame)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.text.Write(p)
	c.text.WriteByte('\n')
	close(c.changed)
	c.changed = make(chan struct{})
	return true
}

func (c *rawConn) Close(int, string) {}

func (c *rawConn) waitRaw(t testing.TB, sub string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		ok, ch, all := strings.Contains(c.text.String(), sub), c.changed, c.text.String()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%q never arrived; got %s", sub, all)
		}
	}
}
