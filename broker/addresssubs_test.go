package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// subscriptionsOf is an address's budget of subscriptions that counts
// what its sessions hold, allowing every command.
type subscriptionsOf struct {
	max  int64
	held atomic.Int64
}

func (p *subscriptionsOf) AllowCommand(int64) bool { return true }

func (p *subscriptionsOf) TakeSubscription() bool {
	if p.held.Add(1) > p.max {
		p.held.Add(-1)
		return false
	}
	return true
}

func (p *subscriptionsOf) GiveSubscriptions(n int) { p.held.Add(-int64(n)) }
func (p *subscriptionsOf) MaxSubscriptions() int   { return int(p.max) }

// The sessions of one address hold its subscriptions together: a
// subscribe past them is refused too_many_subscriptions, one the
// session holds already takes nothing, and an unsubscribe and a session's
// end give theirs back.
func TestSessionsOfOneAddressShareItsSubscriptions(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: 1000})
	subs := &subscriptionsOf{max: 3}
	c1, c2 := connect(t, b, ClientInfo{Pacer: subs}), connect(t, b, ClientInfo{Pacer: subs})
	refused := "too_many_subscriptions: at most 3 subscriptions from this address"
	for _, step := range []struct {
		c       *client
		id, cmd string
		want    string // the reply's type, or its code and message
	}{
		{c1, "1", `{"type":"subscribe","id":"1","topic":"a"}`, "subscribed"},
		{c1, "2", `{"type":"subscribe","id":"2","topic":"b.*"}`, "subscribed"},
		{c1, "3", `{"type":"subscribe","id":"3","topic":"a"}`, "subscribed"}, // held already
		{c2, "4", `{"type":"subscribe","id":"4","topic":"c"}`, "subscribed"},
		{c2, "5", `{"type":"subscribe","id":"5","topic":"d"}`, refused},
		{c1, "6", `{"type":"unsubscribe","id":"6","topic":"a"}`, "unsubscribed"},
		{c2, "7", `{"type":"subscribe","id":"7","topic":"d"}`, "subscribed"},
	} {
		r := step.c.do(t, step.id, "%s", step.cmd)
		got := r["type"]
		if got == "error" {
			got = fmt.Sprintf("%v: %v", r["code"], r["message"])
		}
		if got != step.want {
			t.Fatalf("%s: %v, want %s", step.cmd, r, step.want)
		}
	}
	if got := subs.held.Load(); got != 3 {
		t.Fatalf("the address holds %d subscriptions, want 3", got)
	}
	c1.s.Disconnected()
	c2.s.Disconnected()
	if got := subs.held.Load(); got != 0 {
		t.Fatalf("its sessions ended, the address holds %d subscriptions, want 0", got)
	}
}
