package bench

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrNotLoopback is returned for any target that is not on this machine's
// loopback: the tool must never load anyone else's server.
var ErrNotLoopback = errors.New("only loopback targets are allowed")

// Target is one Herald node to load.
type Target struct {
	URL      string // as given
	HostPort string // 127.0.0.1:8080
	Path     string // /ws
	Token    string // a JWT sent as Authorization: Bearer, optional
}

// HTTPBase is the node's HTTP root, for /api/*.
func (t Target) HTTPBase() string { return "http://" + t.HostPort }

// ParseTarget checks that raw is a ws:// URL on a loopback address. A
// host name must resolve to loopback addresses only.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "ws" {
		return Target{}, fmt.Errorf("url %q: scheme must be ws", raw)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return Target{}, fmt.Errorf("url %q: no host", raw)
	}
	if port == "" {
		port = "80"
	}
	if err := checkLoopback(host); err != nil {
		return Target{}, fmt.Errorf("%w: %q", err, raw)
	}
	if host == "localhost" {
		host = "127.0.0.1" // the source addresses we bind are IPv4
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/ws"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return Target{URL: raw, HostPort: net.JoinHostPort(host, port), Path: path}, nil
}

func checkLoopback(host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return ErrNotLoopback
		}
		return nil
	}
	if host != "localhost" {
		return ErrNotLoopback
	}
	return nil
}

// randomKey is a Sec-WebSocket-Key's 16 random bytes.
func randomKey() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}
