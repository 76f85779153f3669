package limits

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	c, err := NewClientIP(" 10.0.0.0/8, 192.0.2.1 ,fd00::/8,")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		peer   string
		xff    []string // one entry per header line
		wantIP string
	}{
		{"direct client", "203.0.113.9:4000", nil, "203.0.113.9"},
		{"spoofed header from an untrusted peer", "203.0.113.9:4000", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted proxy, no header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"trusted proxy", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client spoofs the leftmost entry", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.7, 192.0.2.1, 10.9.9.9"}, "198.51.100.7"},
		{"proxies over several header lines", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7", "10.0.0.5"}, "198.51.100.7"},
		{"only trusted hops: the leftmost", "10.1.2.3:80", []string{"10.0.0.9, 192.0.2.1"}, "10.0.0.9"},
		{"port in an entry", "10.1.2.3:80", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"malformed entry stops at the last good hop", "10.1.2.3:80", []string{"198.51.100.7, nonsense, 10.0.0.5"}, "10.0.0.5"},
		{"malformed rightmost entry", "10.1.2.3:80", []string{"198.51.100.7, unknown"}, "10.1.2.3"},
		{"empty entry", "10.1.2.3:80", []string{"198.51.100.7,,"}, "10.1.2.3"},
		{"empty header", "10.1.2.3:80", []string{""}, "10.1.2.3"},
		{"IPv6 client behind an IPv4 proxy", "10.1.2.3:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 with port", "10.1.2.3:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 trusted proxy", "[fd00::1]:80", []string{"203.0.113.5"}, "203.0.113.5"},
		{"IPv6 untrusted peer", "[2001:db8::2]:80", []string{"203.0.113.5"}, "2001:db8::2"},
		{"IPv4-mapped peer is IPv4", "[::ffff:10.1.2.3]:80", []string{"203.0.113.5"}, "203.0.113.5"},
		{"IPv4-mapped client", "10.1.2.3:80", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"zone dropped", "10.1.2.3:80", []string{"fe80::1%eth0"}, "fe80::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.IP(r); got != netip.MustParseAddr(tc.wantIP) {
				t.Errorf("IP = %v, want %s", got, tc.wantIP)
			}
		})
	}
}

func TestNoTrustedProxies(t *testing.T) {
	c, err := NewClientIP("")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "127.0.0.1:999"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	if got := c.IP(r); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("IP = %v: X-Forwarded-For believed with no trusted proxy", got)
	}
}

func TestUnparsablePeer(t *testing.T) {
	c, _ := NewClientIP("10.0.0.0/8")
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "@"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	if got := c.IP(r); got.IsValid() {
		t.Errorf("IP = %v for peer %q, want the zero Addr", got, r.RemoteAddr)
	}
}

func TestNewClientIPRefusesNonsense(t *testing.T) {
	for _, list := range []string{"10.0.0.0/33", "10.0.0", "example.com", "10.0.0.1, fd00::/200"} {
		_, err := NewClientIP(list)
		if err == nil {
			t.Errorf("NewClientIP(%q) accepted", list)
			continue
		}
		if !strings.Contains(err.Error(), "trusted proxy") {
			t.Errorf("error %q does not name the setting's subject", err)
		}
	}
}

func TestTrustedPrefixForms(t *testing.T) {
	c, err := NewClientIP("10.1.2.3/8, ::ffff:192.168.0.0/112, 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.200.0.1":  true, // host bits of 10.1.2.3/8 are ignored
		"11.0.0.1":    false,
		"192.168.7.7": true, // the mapped prefix is read as IPv4
		"192.169.0.1": false,
		"2001:db8::1": true,
		"2001:db8::2": false,
	} {
		a := netip.MustParseAddr(addr)
		if got := c.Trusted(a); got != want {
			t.Errorf("Trusted(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestIgnoresForwarding(t *testing.T) {
	c, _ := NewClientIP("10.0.0.0/8")
	for _, tc := range []struct {
		peer, xff string
		want      bool
	}{
		{"127.0.0.1:999", "198.51.100.7", true}, // a proxy nobody listed
		{"10.1.2.3:999", "198.51.100.7", false}, // a trusted proxy
		{"127.0.0.1:999", "", false},            // no header: nothing ignored
		{"@", "198.51.100.7", false},            // no peer address to speak of
	} {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := c.IgnoresForwarding(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: IgnoresForwarding = %v, want %v", tc.peer, tc.xff, got, tc.want)
		}
	}
}
