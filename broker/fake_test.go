package broker

import (
	"context"
	"fmt"
	"sync"
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
