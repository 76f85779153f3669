package redis_test

import (
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A control sent while a node's pub/sub connection was down reaches it
// once the connection is back, once, and in order with the controls
// around it; controls from before the node started never do.
func TestControlSentWhileDisconnectedArrives(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	sender := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "sender"})
	before := broker.Control{Kind: broker.ControlDisconnect, User: "before-start"}
	if err := sender.Control(ctxFor(t), before); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "cut"})
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, "any")
	first := broker.Control{Kind: broker.ControlDisconnect, User: "first"}
	missed := broker.Control{Kind: broker.ControlUnsubscribe, User: "missed", Topic: "room.1"}
	last := broker.Control{Kind: broker.ControlSubscribe, Session: "after", Topic: "room.*"}
	if err := sender.Control(ctxFor(t), first); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return len(rec.controls()) == 1 }) {
		t.Fatalf("controls %+v, want the first", rec.controls())
	}
	px.Cut()
	if err := sender.Control(ctxFor(t), missed); err != nil {
		t.Fatal(err)
	}
	px.Restore()
	if !eventually(func() bool { return len(rec.controls()) >= 2 }) {
		t.Fatalf("controls %+v, want the one sent while the node was cut off", rec.controls())
	}
	if err := sender.Control(ctxFor(t), last); err != nil {
		t.Fatal(err)
	}
	marker := broker.Control{Kind: broker.ControlDisconnect, Session: "marker"}
	if err := sender.Control(ctxFor(t), marker); err != nil {
		t.Fatal(err)
	}
	// Controls of one sender come in order: once the marker is in, any
	// control handed over twice would be too.
	want := []broker.Control{first, missed, last, marker}
	if !eventually(func() bool { return slices.Contains(rec.controls(), marker) }) || !slices.Equal(rec.controls(), want) {
		t.Fatalf("controls %+v, want %+v", rec.controls(), want)
	}
}
