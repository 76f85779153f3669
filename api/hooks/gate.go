package hooks

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
)

// DefaultMaxInFlight is how many connect (and, apart, subscribe) hook
// requests a node runs at once. At the default 3 s timeout it still lets
// through about 170 requests a second to a backend that hangs, and
// thousands to one that answers in milliseconds.
const DefaultMaxInFlight = 512

// addressShare: one client address may hold an addressShare-th of a
// hook's requests in flight, 64 of the default 512. Against a backend
// that hangs, one address then leaves seven eighths of the node to
// everybody else, and it takes eight addresses (eight IPv6 /64s) to fill
// it. 64 is four connections' worth of subscribes waiting for the backend
// (broker lets one connection have 16), or 64 upgrades waiting for the
// connect hook: against a backend that answers in 10 ms, thousands a
// second for one address, room for an office or a carrier-grade NAT
// behind it.
const addressShare = 8

// shareOf is how many of maxInFlight requests one address may hold: an
// addressShare-th of them, at least one.
func shareOf(maxInFlight int) int { return max(1, maxInFlight/addressShare) }

// gate bounds how many requests of one hook run at once, so that a flood
// of connections or subscriptions cannot open unbounded outbound requests,
// and how many of them one client address holds, so that one address
// cannot take them all from the others: past either bound a request is
// refused at once, which costs the backend nothing. It is safe for
// concurrent use.
//
// Memory: an address is kept only while it holds a request, so the table
// never holds more addresses than max.
type gate struct {
	max, share int

	mu       sync.Mutex
	inFlight int
	held     map[netip.Addr]int // requests in flight by address, none at zero
}

func newGate(maxInFlight int) *gate {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	return &gate{max: maxInFlight, share: shareOf(maxInFlight), held: make(map[netip.Addr]int)}
}

// enter takes a place for a request from client, or says why there is
// none: errAddressBusy when client holds its share already, errBusy when
// the node's places are taken. An address not known (the zero Addr: a
// request from no client connection) counts against the node's bound
// only. A nil error is paired with one call of leave with the same client.
func (g *gate) enter(client netip.Addr) error {
	key := addressKey(client)
	g.mu.Lock()
	defer g.mu.Unlock()
	if key.IsValid() && g.held[key] >= g.share {
		return errAddressBusy
	}
	if g.inFlight >= g.max {
		return errBusy
	}
	g.inFlight++
	if key.IsValid() {
		g.held[key]++
	}
	return nil
}

// leave gives back the place a request from client took.
func (g *gate) leave(client netip.Addr) {
	key := addressKey(client)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if !key.IsValid() {
		return
	}
	if g.held[key] <= 1 {
		delete(g.held, key)
		return
	}
	g.held[key]--
}

// notAsked counts and answers a request the gate turned away (err is
// what enter said): rate_limited when its address held its share, as the
// other per-address limits answer; unavailable when the node was full.
func (c *Client) notAsked(h Hook, err error) *broker.Error {
	if errors.Is(err, errAddressBusy) {
		c.metrics.notSent(h, OutcomeLimited)
		return &broker.Error{Code: broker.CodeRateLimited,
			Message: "too many requests from this address are waiting for the backend", Err: err}
	}
	c.metrics.notSent(h, OutcomeFull)
	return unavailable(err)
}

// addressKey is the address client counts as: as the per-address
// connection limits count it, IPv6 by its /64 (limits.DefaultIPv6Prefix,
// which no setting changes).
func addressKey(client netip.Addr) netip.Addr {
	return limits.Group(client, limits.DefaultIPv6Prefix)
}

// parseClient reads the client address the api gives as text; the zero
// Addr when it is not one (the api then knew no address).
func parseClient(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
