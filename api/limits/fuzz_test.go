package limits

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever the peer and X-Forwarded-For, IP never panics,
// believes the header only from a trusted peer, and returns the peer or
// an address written in the header.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.7, 10.0.0.2")
	f.Add("10.0.0.1:80", "[2001:db8::1]:443,,x")
	f.Add("203.0.113.1:80", "10.0.0.3")
	f.Add("[fd00::1]:1", "::ffff:1.2.3.4, fe80::1%eth0")
	f.Add("", ",")
	c, err := NewClientIP("10.0.0.0/8, fd00::/8")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := c.IP(r)
		want, ok := parseHop(peer)
		if !ok || !c.Trusted(want) {
			if got != want {
				t.Fatalf("peer %q is not a trusted proxy, yet IP = %v", peer, got)
			}
			return
		}
		if got != want && !inHeader(got, xff) {
			t.Fatalf("IP = %v is neither the peer nor in %q", got, xff)
		}
	})
}

func inHeader(a netip.Addr, xff string) bool {
	for _, item := range strings.Split(xff, ",") {
		if b, ok := parseHop(strings.TrimSpace(item)); ok && b == a {
			return true
		}
	}
	return false
}
