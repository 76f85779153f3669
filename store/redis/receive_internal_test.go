package redis

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
)

// A receive loop waiting after a failed receive ends when it is stopped,
// not when its wait would: while Redis is away the supervisor replaces
// the connection again and again, each time stopping the old loop and
// waiting for it, which had it wait out that loop's pause (up to
// BackoffMax) before every try. Here the pauses never end of their own.
func TestStoppingAReceiveLoopEndsItsWait(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	e := startEngine(t, Config{
		URL: srv.URL(), NodeID: "n1", HistorySize: 10,
		pause: func(time.Duration, *loopControl) <-chan time.Time { return nil },
	})
	const replaced = 3
	for give := time.Now().Add(10 * time.Second); e.stats.reconnects.Load() < replaced; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(give) {
			t.Fatalf("the connection was replaced %d times with Redis away, then no more: want %d and on",
				e.stats.reconnects.Load(), replaced)
		}
	}
}

// A connection's loop that receives before the supervisor subscribes the
// connection, while Redis is away (as during a failover), fails and waits;
// once the supervisor subscribes the connection on a Redis that answers
// again, the loop reads at once. It used to wait out its pause, up to
// BackoffMax, with the subscribe's confirmation and every message
// published meanwhile held in the socket: a topic that got more than its
// history in that time was reported a gap for messages history still held
// when they reached the node. Here the loops' pauses never end of their
// own, and the supervisor tries again once Redis answers (see waitOut).
func TestAConnectionSubscribedAgainIsReadAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	retrying := make(chan struct{}, 8)    // the supervisor waits to replace the connection
	paused := make(chan *loopControl, 64) // a loop waits after a failed receive
	e := startEngine(t, Config{
		URL: srv.URL(), NodeID: "n1", HistorySize: 10, Timeout: 2 * time.Second,
		pause: func(_ time.Duration, loop *loopControl) <-chan time.Time {
			paused <- loop
			return nil
		},
		backoffEnd: func(time.Duration) <-chan time.Time {
			retrying <- struct{}{}
			return nil
		},
	})
	got := make(chan *broker.Message, 8)
	e.Attach(messageSink(got))
	if err := e.Subscribe(t.Context(), "room"); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	<-retrying // the connection broke and was replaced: its new loop receives, and fails
	e.psMu.Lock()
	current := e.psLoop
	e.psMu.Unlock()
	for waiting := true; waiting; {
		select {
		case loop := <-paused:
			waiting = loop != current
		case <-time.After(10 * time.Second):
			t.Fatal("the new connection's loop never failed with Redis away")
		}
	}
	srv.Restart() // empty: the topic starts a new epoch

	res, err := e.Publish(t.Context(), broker.PublishRequest{Topic: "room", Data: []byte(`1`), ID: "m1", Time: 1})
	if err != nil {
		t.Fatalf("publish once Redis is back: %v", err)
	}
	select {
	case m := <-got:
		if m.ID != res.ID {
			t.Fatalf("got %+v, want the message published once Redis was back", m)
		}
	case <-retrying:
		t.Fatal("the supervisor's subscribe of the new connection failed, and it replaced the connection again: the loop reading it was still waiting")
	case <-time.After(10 * time.Second):
		t.Fatal("the message published once Redis was back never came")
	}
}

// startEngine starts an engine on cfg, with the test's log unless cfg has
// one, and closes it when the test ends.
func startEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	e, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

// messageSink is a broker.Handler that passes messages to a channel.
type messageSink chan *broker.Message

func (s messageSink) HandleMessage(m *broker.Message)      { s <- m }
func (s messageSink) HandleGap(broker.Gap)                 {}
func (s messageSink) HandlePresence(broker.PresenceChange) {}
func (s messageSink) HandleControl(broker.Control)         {}
