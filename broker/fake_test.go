package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine is an in-memory Engine that, like the real ones, keeps a
// message in history before handing it to the Handler, and delivers one
// topic's messages in seq order.
type fakeEngine struct {
	mu      sync.Mutex
	h       Handler
	topics  map[string]*fakeTopic
	active  map[string]bool // patterns the broker subscribed
	history int             // messages kept per topic; 0: all
	calls   []string        // Subscribe and Unsubscribe, in order

	failSubscribe error
	failPublish   error
	failPosition  error
	unsure        bool          // History answers Unsure, as Redis after a failover
	block         chan struct{} // when set, Subscribe waits for it to close
	blockUnsub    chan struct{} // when set, Unsubscribe waits for it to close
	unsubscribing chan string   // when set, told of each Unsubscribe as it starts
	doubleSub     error         // set when the broker subscribes a pattern twice

	pres fakePresence
}

type fakeTopic struct {
	deliver sync.Mutex // held from seq assignment through delivery
	epoch   string
	seq     uint64
	msgs    []*Message
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{topics: make(map[string]*fakeTopic), active: make(map[string]bool)}
}

func (e *fakeEngine) Attach(h Handler) { e.h = h }

func (e *fakeEngine) topic(name string) *fakeTopic {
	t := e.topics[name]
	if t == nil {
		t = &fakeTopic{epoch: "e1"}
		e.topics[name] = t
	}
	return t
}

func (e *fakeEngine) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	e.mu.Lock()
	if e.failPublish != nil {
		err := e.failPublish
		e.mu.Unlock()
		return PublishResult{}, err
	}
	t := e.topic(req.Topic)
	e.mu.Unlock()

	t.deliver.Lock()
	defer t.deliver.Unlock()
	e.mu.Lock()
	t.seq++
	m := &Message{Topic: req.Topic, Epoch: t.epoch, Seq: t.seq, ID: req.ID, Time: req.Time, Data: req.Data}
	t.msgs = append(t.msgs, m)
	if e.history > 0 && len(t.msgs) > e.history {
		t.msgs = t.msgs[len(t.msgs)-e.history:]
	}
	wanted := false
	for p := range e.active {
		wanted = wanted || Match(p, req.Topic)
	}
	e.mu.Unlock()
	if wanted {
		e.h.HandleMessage(m)
	}
	return PublishResult{Topic: m.Topic, Epoch: m.Epoch, Seq: m.Seq, ID: m.ID}, nil
}

func (e *fakeEngine) History(ctx context.Context, topic string, since uint64, limit int) (HistoryResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failPosition != nil {
		return HistoryResult{}, e.failPosition
	}
	t := e.topic(topic)
	res := HistoryResult{Position: Position{Epoch: t.epoch, Seq: t.seq}, Unsure: e.unsure}
	for _, m := range t.msgs {
		if m.Seq > since && (limit <= 0 || len(res.Messages) < limit) {
			res.Messages = append(res.Messages, m)
		}
	}
	return res, nil
}

func (e *fakeEngine) Position(ctx context.Context, topic string) (Position, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failPosition != nil {
		return Position{}, e.failPosition
	}
	t := e.topic(topic)
	return Position{Epoch: t.epoch, Seq: t.seq}, nil
}

func (e *fakeEngine) Subscribe(ctx context.Context, pattern string) error {
	e.mu.Lock()
	block := e.block
	e.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Unavailable(ctx.Err())
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failSubscribe != nil {
		return e.failSubscribe
	}
	if e.active[pattern] {
		e.doubleSub = fmt.Errorf("%s subscribed twice", pattern)
	}
	e.active[pattern] = true
	e.calls = append(e.calls, "sub "+pattern)
	return nil
}

func (e *fakeEngine) Unsubscribe(ctx context.Context, pattern string) error {
	e.mu.Lock()
	block, told := e.blockUnsub, e.unsubscribing
	e.mu.Unlock()
	if told != nil {
		told <- pattern
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Unavailable(ctx.Err())
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.active, pattern)
	e.calls = append(e.calls, "unsub "+pattern)
	return nil
}

func (e *fakeEngine) isActive(p string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active[p]
}

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
	s *Session
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

// fakePresence is the fake engine's presence: entries per topic and
// session, joins and leaves per user decided under one lock and handed to
// the Handler in that order, and controls handed to it at once, as a
// one-node engine would.
type fakePresence struct {
	mu       sync.Mutex // held from deciding a change through its delivery
	entries  map[string]map[string]PresenceEntry
	failAdd  error
	controls []Control
}

func (e *fakeEngine) AddPresence(ctx context.Context, p PresenceEntry) error {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	if e.pres.failAdd != nil {
		return e.pres.failAdd
	}
	if e.pres.entries == nil {
		e.pres.entries = make(map[string]map[string]PresenceEntry)
	}
	on := e.pres.entries[p.Topic]
	if on == nil {
		on = make(map[string]PresenceEntry)
		e.pres.entries[p.Topic] = on
	}
	if _, have := on[p.Session]; have {
		return nil
	}
	first := p.User != "" && e.sessionsOf(p.Topic, p.User) == 0
	on[p.Session] = p
	if first {
		e.h.HandlePresence(PresenceChange{Topic: p.Topic, User: p.User, Info: p.Info, Join: true, Session: p.Session})
	}
	return nil
}

func (e *fakeEngine) RemovePresence(ctx context.Context, p PresenceEntry) error {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	had, ok := e.pres.entries[p.Topic][p.Session]
	if !ok {
		return nil
	}
	delete(e.pres.entries[p.Topic], p.Session)
	if had.User != "" && e.sessionsOf(p.Topic, had.User) == 0 {
		e.h.HandlePresence(PresenceChange{Topic: p.Topic, User: had.User, Session: p.Session})
	}
	return nil
}

// sessionsOf counts user's entries on topic; pres.mu is held.
func (e *fakeEngine) sessionsOf(topic, user string) int {
	n := 0
	for _, have := range e.pres.entries[topic] {
		if have.User == user {
			n++
		}
	}
	return n
}

func (e *fakeEngine) Presence(ctx context.Context, topic string, page PresencePage) (PresenceState, error) {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	st := PresenceState{Members: []Member{}}
	byUser := map[string]int{}
	for _, p := range e.pres.entries[topic] {
		st.Sessions++
		if p.User == "" {
			continue
		}
		i, ok := byUser[p.User]
		if !ok {
			i = len(st.Members)
			byUser[p.User] = i
			st.Members = append(st.Members, Member{User: p.User, Info: p.Info})
		}
		st.Members[i].Sessions++
	}
	st.Users = len(st.Members)
	slices.SortFunc(st.Members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	fill := page.Filler()
	for _, m := range st.Members {
		if m.User > page.After && !fill.Add(m) {
			break
		}
	}
	st.Members, st.Truncated = fill.Members, fill.Truncated
	return st, nil
}

// presentSessions counts the entries of topic.
func (e *fakeEngine) presentSessions(topic string) int {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	return len(e.pres.entries[topic])
}

func (e *fakeEngine) Control(ctx context.Context, c Control) error {
	e.pres.mu.Lock()
	e.pres.controls = append(e.pres.controls, c)
	e.pres.mu.Unlock()
	e.h.HandleControl(c)
	return nil
}
