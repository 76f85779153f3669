// Package limits holds the per-IP defences (docs/protocol.md section 6, issue
// "abuse limits"): which address a request comes from, how many
// connections one address may hold (counted from accept, by Listener) and
// open per second, how many descriptors the connections hold against the
// open-file limit, and how large a request's head may be.
package limits

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address a request comes from. The peer is believed
// unless it is a trusted proxy; only then is X-Forwarded-For read, and
// only as far as the proxies that wrote it are trusted.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP parses a comma-separated list of trusted proxies
// (HERALD_TRUSTED_PROXIES): addresses ("10.0.0.7", "::1") or prefixes
// ("10.0.0.0/8", "fd00::/8"). An empty list trusts no proxy.
func NewClientIP(list string) (*ClientIP, error) {
	c := &ClientIP{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parseTrusted(item)
		if err != nil {
			return nil, err
		}
		c.trusted = append(c.trusted, p)
	}
	return c, nil
}

func parseTrusted(item string) (netip.Prefix, error) {
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("herald/limits: trusted proxy %q: %w", item, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(item)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("herald/limits: trusted proxy %q: %w", item, err)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusted reports whether a is one of the trusted proxies.
func (c *ClientIP) Trusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IP returns the client's address: the peer's, unless the peer is a
// trusted proxy. Then X-Forwarded-For is walked from the right, past
// trusted proxies, to the first address that is not one; a malformed
// entry stops the walk at the last good hop, since nothing left of it can
// be believed. The zero Addr means RemoteAddr itself did not parse.
func (c *ClientIP) IP(r *http.Request) netip.Addr {
	hop, ok := parseHop(r.RemoteAddr)
	if !ok || !c.Trusted(hop) {
		return hop
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		next, done := c.walk(values[i], hop)
		if done {
			return next
		}
		hop = next
	}
	return hop
}

// IgnoresForwarding reports whether r carries X-Forwarded-For from a peer
// that is not a trusted proxy, so that IP returns the peer's address.
func (c *ClientIP) IgnoresForwarding(r *http.Request) bool {
	if _, ok := r.Header["X-Forwarded-For"]; !ok {
		return false
	}
	hop, ok := parseHop(r.RemoteAddr)
	return ok && !c.Trusted(hop)
}

// walk goes through one X-Forwarded-For value from the right, starting
// after hop. It returns the address found and true when the walk ends in
// this value, or the last trusted hop and false to go on to the value
// before it.
func (c *ClientIP) walk(value string, hop netip.Addr) (netip.Addr, bool) {
	for rest := value; ; {
		i := strings.LastIndexByte(rest, ',')
		a, ok := parseHop(strings.TrimSpace(rest[i+1:]))
		if !ok {
			return hop, true
		}
		if !c.Trusted(a) {
			return a, true
		}
		hop = a
		if i < 0 {
			return hop, false
		}
		rest = rest[:i]
	}
}

// parseHop reads an address as RemoteAddr or a proxy writes it: "1.2.3.4",
// "1.2.3.4:5678", "::1", "[::1]:80". IPv4-mapped IPv6 is read as IPv4 and
// a zone is dropped, so one host has one spelling.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// Group is the address ip counts as in a per-address bound: IPv4 as is,
// IPv6 cut to its first ipv6Bits bits (DefaultIPv6Prefix for what no
// setting changes), so that a host cannot pass for many by picking new
// addresses in its /64.
func Group(ip netip.Addr, ipv6Bits int) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if !ip.Is6() {
		return ip
	}
	p, err := ip.Prefix(ipv6Bits)
	if err != nil {
		return ip // a length past 128: each address alone
	}
	return p.Addr()
}
