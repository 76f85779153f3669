package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeBackpressure refuses while refuse is set and counts its calls.
type fakeBackpressure struct {
	refuse atomic.Bool
	calls  atomic.Int32
	topics sync.Map // the topics asked about
}

func (f *fakeBackpressure) Wait(ctx context.Context, topic string) error {
	f.calls.Add(1)
	f.topics.Store(topic, true)
	if f.refuse.Load() {
		return errors.New("behind")
	}
	return nil
}

// A publish refused by Backpressure, over HTTP or WebSocket, is answered
// unavailable and never reaches the engine: nothing was published.
func TestBackpressureRefusesBeforeTheEngine(t *testing.T) {
	bp := new(fakeBackpressure)
	b, e := newTestBroker(t, Config{Backpressure: bp})
	bp.refuse.Store(true)
	_, err := b.Publish(context.Background(), "news", []byte(`1`), "")
	if CodeOf(err) != CodeUnavailable || !errors.Is(err, ErrOverloaded) {
		t.Fatalf("refused publish: %v, want unavailable wrapping ErrOverloaded", err)
	}
	c := connect(t, b, ClientInfo{})
	reply := c.do(t, "p1", `{"type":"publish","id":"p1","topic":"news","data":2}`)
	if reply["type"] != "error" || reply["code"] != string(CodeUnavailable) {
		t.Fatalf("refused WebSocket publish answered %v", reply)
	}
	if e.topic("news").seq != 0 || b.Stats().MessagesIn != 0 {
		t.Fatal("a refused publish reached the engine")
	}
	bp.refuse.Store(false)
	if res, err := b.Publish(context.Background(), "news", []byte(`3`), ""); err != nil || res.Seq != 1 {
		t.Fatalf("publish once delivery caught up: %+v, %v", res, err)
	}
	if n := bp.calls.Load(); n != 3 {
		t.Fatalf("Backpressure asked %d times, want once a publish", n)
	}
	bp.topics.Range(func(topic, _ any) bool {
		if topic != "news" {
			t.Errorf("Backpressure asked about topic %q, want the published one", topic)
		}
		return true
	})
}
