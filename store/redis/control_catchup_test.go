package redis_test

import (
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node whose read of the control stream fails once it is subscribed
// again (here an ACL refuses it; in a failover, the stream's master is
// away) reads it again until it can, and hands the controls a break lost
// over before those pub/sub brought meanwhile, in their order: none of
// them goes missing, as a control answered 200 must not.
func TestControlCatchUpThatFailsIsTriedAgain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	do(t, a, "ACL", "SETUSER", "cut", "on", ">pw", "~*", "&*", "+@all")
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	sender := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "sender"})
	core, logs := observer.New(zap.WarnLevel)
	e := newEngine(t, "redis://cut:pw@"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "cut", Logger: zap.New(core)})
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, "any")
	send := func(c broker.Control) {
		t.Helper()
		if err := sender.Control(ctxFor(t), c); err != nil {
			t.Fatal(err)
		}
	}
	first := broker.Control{Kind: broker.ControlDisconnect, User: "first"}
	missed := broker.Control{Kind: broker.ControlUnsubscribe, User: "missed", Topic: "room.1"}
	during := broker.Control{Kind: broker.ControlSubscribe, Session: "during", Topic: "room.2"}
	last := broker.Control{Kind: broker.ControlDisconnect, Session: "last"}
	send(first)
	if !eventually(func() bool { return len(rec.controls()) == 1 }) {
		t.Fatalf("controls %+v, want the first", rec.controls())
	}
	px.Cut()
	send(missed)
	do(t, a, "ACL", "SETUSER", "cut", "-xrange") // the stream's read is a script's XRANGE
	px.Restore()
	if !eventually(func() bool {
		return logs.FilterMessageSnippet("cannot read the controls a reconnect may have lost").Len() > 0
	}) {
		t.Fatalf("the node never failed to read the control stream: %v", logs.All())
	}
	send(during) // on the classic connection, subscribed again
	do(t, a, "ACL", "SETUSER", "cut", "+xrange")
	send(last)
	want := []broker.Control{first, missed, during, last}
	if !eventually(func() bool { return slices.Contains(rec.controls(), last) }) || !slices.Equal(rec.controls(), want) {
		t.Fatalf("controls %+v, want %+v", rec.controls(), want)
	}
}
