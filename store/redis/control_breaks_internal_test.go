package redis

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
)

// A break of the classic connection that comes while a catch-up reads the
// control stream is not paid by that read: a control published after the
// read, which the break kept from pub/sub, is handed over by the next
// catch-up. The read that came first used to end the debt, and the next
// catch-up found nothing owed: the control, answered 200, was never
// applied by the node. The watcher's probes, which try a catch-up again,
// are kept out of the way here so that the test runs each one. The
// supervisor's first catch-up may still come while the test's run, and
// be the one that reads the stream with the break armed.
func TestABreakDuringACatchUpOwesAnother(t *testing.T) {
	srv := redistest.Start(t)
	var armed atomic.Bool
	hooked := make(chan struct{}) // closed once the armed break was made
	var e *Engine
	lost := broker.Control{Kind: broker.ControlDisconnect, User: "lost"}
	e = startEngine(t, Config{
		URL: srv.URL(), NodeID: "n1", ProbeInterval: time.Hour,
		afterControlsRead: func() {
			if !armed.CompareAndSwap(true, false) {
				return
			}
			defer close(hooked)
			body, err := json.Marshal(controlWire{Kind: lost.Kind, User: lost.User})
			if err != nil {
				t.Error(err)
				return
			}
			// Published while the connection was down: in the stream only.
			err = e.rdb.XAdd(t.Context(), &goredis.XAddArgs{Stream: e.keys.controls(), Values: []string{"c", string(body)}}).Err()
			if err != nil {
				t.Error(err)
			}
			// The break is seen after the control was lost, as a dead
			// connection's is. Seen before it, another catch-up (the
			// supervisor's first, which comes when it likes) could read
			// between the two and end a debt no break since would renew,
			// where the supervisor owes one more after each break.
			e.oweControls()
		},
	})
	got := make(controlSink, 8)
	e.Attach(got)
	ctx := t.Context()
	if err := e.markControls(ctx); err != nil {
		t.Fatal(err)
	}
	// Armed before the break: armed after it, the supervisor's catch-up
	// could read between the two, ending the debt unarmed, and this one
	// would find nothing owed and read nothing.
	armed.Store(true)
	e.oweControls() // a break
	if err := e.catchUpControls(ctx); err != nil {
		t.Fatal(err)
	}
	// Made in the supervisor's catch-up rather than this one, the break
	// may come after the next: that one would find nothing owed, the
	// debt ended by this one, whose read came before the control.
	select {
	case <-hooked:
	case <-time.After(10 * time.Second):
		t.Fatal("no catch-up read the stream with the break armed")
	}
	if err := e.catchUpControls(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c != lost {
			t.Fatalf("handed over %+v, want %+v", c, lost)
		}
	default:
		t.Fatal("the control the second break lost was never handed over")
	}
}

// controlSink is a broker.Handler that passes controls to a channel.
type controlSink chan broker.Control

func (s controlSink) HandleMessage(*broker.Message)        {}
func (s controlSink) HandleGap(broker.Gap)                 {}
func (s controlSink) HandlePresence(broker.PresenceChange) {}
func (s controlSink) HandleControl(c broker.Control)       { s <- c }
