package hooks

import (
	"errors"
	"net/netip"
	"testing"
)

// One address holds at most its share of the places, an IPv6 /64 counting
// as one address; an address not known counts against the node's bound
// only.
func TestGateShare(t *testing.T) {
	g := newGate(16) // a share of 2
	enter := func(addr string, want error) {
		t.Helper()
		var a netip.Addr
		if addr != "" {
			a = netip.MustParseAddr(addr)
		}
		if err := g.enter(a); !errors.Is(err, want) {
			t.Fatalf("enter(%q) = %v, want %v", addr, err, want)
		}
	}
	enter("127.0.0.1", nil)
	enter("127.0.0.1", nil)
	enter("127.0.0.1", errAddressBusy)
	enter("::ffff:127.0.0.1", errAddressBusy) // the same address, as IPv6
	enter("127.0.0.2", nil)
	enter("2001:db8::1", nil)
	enter("2001:db8::2", nil)
	enter("2001:db8::3", errAddressBusy) // the same /64
	enter("2001:db8:0:1::1", nil)
	for range 16 - 6 {
		enter("", nil)
	}
	enter("", errBusy)
	enter("127.0.0.3", errBusy)
	enter("127.0.0.1", errAddressBusy) // its own share is the first answer
	g.leave(netip.MustParseAddr("127.0.0.1"))
	enter("127.0.0.1", nil)
}

// An address is forgotten once it holds no place: the table holds no
// more addresses than the node has places, however many come and go.
func TestGateForgetsIdleAddresses(t *testing.T) {
	g := newGate(4)
	var held []netip.Addr
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if err := g.enter(a); err != nil {
			if !errors.Is(err, errBusy) {
				t.Fatalf("enter(%v) = %v, want nil or errBusy", a, err)
			}
			g.leave(held[0])
			held = held[1:]
			if err := g.enter(a); err != nil {
				t.Fatalf("enter(%v) after a leave = %v", a, err)
			}
		}
		held = append(held, a)
		if len(g.held) > g.max {
			t.Fatalf("%d addresses remembered, more than the %d places", len(g.held), g.max)
		}
	}
	for _, a := range held {
		g.leave(a)
	}
	if len(g.held) != 0 || g.inFlight != 0 {
		t.Fatalf("after every leave: %d addresses, %d in flight; want none", len(g.held), g.inFlight)
	}
}

// The share follows the node's bound: an eighth, at least one.
func TestShareOf(t *testing.T) {
	for _, c := range []struct{ max, share int }{{DefaultMaxInFlight, 64}, {16, 2}, {9, 1}, {1, 1}} {
		if got := shareOf(c.max); got != c.share {
			t.Errorf("shareOf(%d) = %d, want %d", c.max, got, c.share)
		}
	}
}
