package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDisconnectedReleasesEverything(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{})
	keep := connect(t, b, ClientInfo{})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"a"}`)
	c.do(t, "2", `{"type":"subscribe","id":"2","topic":"b.>"}`)
	keep.do(t, "1", `{"type":"subscribe","id":"1","topic":"b.>"}`)
	c.s.Disconnected()
	if got := topicsOf(t, b); len(got) != 1 || got[0] != (TopicCount{"b.>", 1}) {
		t.Errorf("topics after disconnect: %v", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for e.isActive("a") && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if e.isActive("a") || !e.isActive("b.>") {
		t.Errorf("engine subscriptions after disconnect: a %v, b.> %v", e.isActive("a"), e.isActive("b.>"))
	}
	c.s.HandleText([]byte(`{"type":"ping","id":"late"}`))
	if len(c.ofType("pong")) != 0 {
		t.Error("a closed session answered")
	}
	if s := b.Stats(); s.Connections != 1 || s.Subscriptions != 1 || s.Topics != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestHandleTextDoesNotWaitForTheEngine: with the engine stuck, commands
// are queued, a full queue answers rate_limited, and Close, once its
// context ends, cancels the worker's engine call and returns ctx's error.
func TestHandleTextDoesNotWaitForTheEngine(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: -1})
	e.block = make(chan struct{})
	c := connect(t, b, ClientInfo{})
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range b.queueLimit + 5 {
			c.s.HandleText(fmt.Appendf(nil, `{"type":"subscribe","id":"%d","topic":"t%d"}`, i, i))
		}
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("HandleText waited for the engine")
	}
	c.waitFor(t, "queue overflow", func(m []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(m, "error")) >= 4
	})
	for _, m := range c.ofType("error") {
		if m["code"] != string(CodeRateLimited) {
			t.Errorf("%v", m)
		}
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := b.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck worker: %v", err)
	}
	close(e.block)
	if err := b.Close(t.Context()); err != nil {
		t.Errorf("Close: %v", err)
	}
	c.s.HandleText([]byte(`{"type":"subscribe","id":"late","topic":"x"}`))
	if r := c.reply(t, "late"); r["code"] != string(CodeUnavailable) {
		t.Errorf("a command after Close: %v", r)
	}
}

func TestCommandsOfOneSessionRunInOrder(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: -1})
	c := connect(t, b, ClientInfo{})
	n := b.queueLimit / 2 // all fit in the queue
	for i := range n {
		c.s.HandleText(fmt.Appendf(nil, `{"type":"subscribe","id":"s%d","topic":"t%d"}`, i, i))
		c.s.HandleText(fmt.Appendf(nil, `{"type":"ping","id":"p%d"}`, i))
	}
	c.reply(t, fmt.Sprint("p", n-1))
	c.mu.Lock()
	var order []string
	for _, m := range c.msgs {
		if id, ok := m["id"].(string); ok {
			order = append(order, id)
		}
	}
	c.mu.Unlock()
	if len(order) != 2*n || len(c.ofType("error")) != 0 {
		t.Fatalf("replies %v", order)
	}
	for i := range n {
		if order[2*i] != fmt.Sprint("s", i) || order[2*i+1] != fmt.Sprint("p", i) {
			t.Fatalf("replies out of order: %v", order)
		}
	}
}

func TestBrokerPublishValidation(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxMessageBytes: 8})
	tests := []struct {
		topic, data string
		code        Code
	}{
		{"a.*", `1`, CodeInvalidTopic},
		{"", `1`, CodeInvalidTopic},
		{"a", ``, CodeBadRequest},
		{"a", `{"x":`, CodeBadRequest},
		{"a", `"123456789"`, CodeMessageTooLarge},
	}
	for _, tt := range tests {
		_, err := b.Publish(t.Context(), tt.topic, []byte(tt.data), "")
		if CodeOf(err) != tt.code {
			t.Errorf("Publish(%q, %q) = %v, want %s", tt.topic, tt.data, err, tt.code)
		}
	}
	res, err := b.Publish(t.Context(), "a", []byte(`[1]`), "k")
	if err != nil || res.Seq != 1 || res.Topic != "a" || res.ID == "" {
		t.Errorf("Publish = %+v, %v", res, err)
	}
}

func TestBrokerPublishUnavailable(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	e.failPublish = Unavailable(errors.New("down"))
	_, err := b.Publish(t.Context(), "a", []byte(`1`), "")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err %v", err)
	}
}

func TestBrokerHistory(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	if _, err := b.History(t.Context(), "a.>", 0, 0); CodeOf(err) != CodeInvalidTopic {
		t.Errorf("history of a pattern: %v", err)
	}
	publishN(t, b, "a", 150)
	h, err := b.History(t.Context(), "a", 0, 0)
	if err != nil || len(h.Messages) != DefaultHistoryLimit || h.Messages[0].Seq != 1 || h.Seq != 150 {
		t.Fatalf("default limit: %d messages, %v", len(h.Messages), err)
	}
	h, _ = b.History(t.Context(), "a", 140, 5)
	if len(h.Messages) != 5 || h.Messages[0].Seq != 141 {
		t.Errorf("since 140 limit 5: %d from %d", len(h.Messages), h.Messages[0].Seq)
	}
}

func TestTopicsAndStats(t *testing.T) {
	b, _ := newTestBroker(t, Config{NodeID: "n1"})
	a, c := connect(t, b, ClientInfo{}), connect(t, b, ClientInfo{})
	a.do(t, "1", `{"type":"subscribe","id":"1","topic":"news"}`)
	a.do(t, "2", `{"type":"subscribe","id":"2","topic":"chat.*"}`)
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"news"}`)
	c.do(t, "2", `{"type":"subscribe","id":"2","topic":"news"}`)
	want := []TopicCount{{"chat.*", 1}, {"news", 2}}
	if got := topicsOf(t, b); !slices.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}
	c.do(t, "3", `{"type":"publish","id":"3","topic":"news","data":1}`)
	a.waitFor(t, "message", func(m []map[string]any, _ int) bool { return len(a.ofTypeLocked(m, "message")) == 1 })
	c.waitFor(t, "message", func(m []map[string]any, _ int) bool { return len(c.ofTypeLocked(m, "message")) == 1 })
	s := b.Stats()
	if s.Node != "n1" || s.Connections != 2 || s.Subscriptions != 3 || s.Topics != 2 || s.MessagesIn != 1 || s.MessagesOut != 2 || s.Uptime <= 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestHeldBackOverflowCloses4000: while a subscribe waits for the engine,
// more live messages than can be held close the connection as a slow
// consumer.
func TestHeldBackOverflowCloses4000(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	e.mu.Lock()
	e.active["t"] = true // another node's subscriber keeps t flowing here
	e.mu.Unlock()
	e.block = make(chan struct{})
	c := connect(t, b, ClientInfo{})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"t"}`))
	for b.Stats().Subscriptions == 0 {
		time.Sleep(time.Millisecond)
	}
	publishN(t, b, "t", maxHeldMessages+10)
	if c.code() != CloseSlowConsumer {
		t.Errorf("close %d, want %d", c.code(), CloseSlowConsumer)
	}
	e.mu.Lock()
	delete(e.active, "t")
	e.mu.Unlock()
	close(e.block)
}

// TestDisconnectDuringSubscribe: the connection goes while the engine is
// still answering its subscribe; nothing is left behind.
func TestDisconnectDuringSubscribe(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	e.block = make(chan struct{})
	c := connect(t, b, ClientInfo{})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"t"}`))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"u.*"}`))
	for b.Stats().Subscriptions == 0 {
		time.Sleep(time.Millisecond)
	}
	c.s.Disconnected()
	close(e.block)
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.active) != 0 {
		t.Errorf("engine still subscribed to %v; calls %v", e.active, e.calls)
	}
	if s := b.Stats(); s.Subscriptions != 0 || s.Topics != 0 || s.Connections != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestBurstWithinTheRateLimitIsServed: a client that pipelines as many
// commands as the rate limit's burst allows gets every one served, even
// while the engine is slow.
func TestBurstWithinTheRateLimitIsServed(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: 100})
	e.block = make(chan struct{})
	c := connect(t, b, ClientInfo{})
	const burst = 200
	// The subscribe holds the worker, so the publishes behind it queue up.
	c.s.HandleText([]byte(`{"type":"subscribe","id":"s","topic":"t"}`))
	for i := range burst - 1 {
		c.s.HandleText(fmt.Appendf(nil, `{"type":"publish","id":"%d","topic":"t","data":%d}`, i, i))
	}
	close(e.block)
	c.reply(t, fmt.Sprint(burst-2))
	if errs := c.ofType("error"); len(errs) != 0 {
		t.Fatalf("%d of a %d-command burst refused: %v", len(errs), burst, errs[0])
	}
}

// TestQueuedBytesAreBounded: past maxQueuedBytes of waiting commands, a
// command is refused with rate_limited rather than held.
func TestQueuedBytesAreBounded(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: -1})
	e.block = make(chan struct{})
	defer close(e.block)
	c := connect(t, b, ClientInfo{})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"s","topic":"t"}`)) // holds the worker
	data := `"` + strings.Repeat("x", 60<<10) + `"`
	for i := range 40 { // 40 × 60 KiB is over 1 MiB
		c.s.HandleText(fmt.Appendf(nil, `{"type":"publish","id":"%d","topic":"t","data":%s}`, i, data))
	}
	r := c.reply(t, "39")
	if r["code"] != string(CodeRateLimited) {
		t.Fatalf("the command past the byte bound: %v", r)
	}
}

// TestQueuedBytesCountSinceAndDropUndefinedFields: a waiting subscribe is
// counted with the epoch of its since, and keeps no field its type does
// not define (a large data), so neither grows the queue past the bound.
func TestQueuedBytesCountSinceAndDropUndefinedFields(t *testing.T) {
	b, e := newTestBroker(t, Config{RateLimit: -1})
	e.block = make(chan struct{})
	defer close(e.block)
	c := connect(t, b, ClientInfo{})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"s","topic":"t"}`)) // holds the worker
	big := strings.Repeat("x", 60<<10)
	for i := range 40 { // 40 × 60 KiB is over 1 MiB
		c.s.HandleText(fmt.Appendf(nil, `{"type":"subscribe","id":"%d","topic":"t%d","since":{"epoch":%q,"seq":1}}`, i, i, big))
	}
	r := c.reply(t, "39")
	if r["code"] != string(CodeRateLimited) {
		t.Fatalf("the subscribe past the byte bound: %v", r)
	}
	cmd, err := decodeCommand(fmt.Appendf(nil, `{"type":"subscribe","id":"u","topic":"t","data":%q,"token":%q,"idempotency_key":%q}`, big, big, big))
	if err != nil || cmd.size() > 64 {
		t.Errorf("a subscribe with undefined fields keeps %d bytes (error %v); want only its id and topic", cmd.size(), err)
	}
}
