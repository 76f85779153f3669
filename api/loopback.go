package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// What a caller must be for /api/* when no API key is configured: on the
// node's host, the request not forwarded for anyone else.

// isLoopback reports whether remoteAddr ("host:port") is a loopback address.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// loopbackCaller reports whether r comes from a loopback address and, when
// a proxy forwarded it (a proxy on the same host comes from loopback too),
// was forwarded for a loopback caller: every address its X-Forwarded-For,
// X-Real-IP and Forwarded (RFC 7239) headers name is loopback. The
// headers are believed only in that direction: they can refuse a caller,
// never let one in.
func loopbackCaller(r *http.Request) bool {
	if !isLoopback(r.RemoteAddr) {
		return false
	}
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(v, ",") {
			if !isLoopbackNamed(a) {
				return false
			}
		}
	}
	for _, v := range r.Header.Values("X-Real-IP") {
		if !isLoopbackNamed(v) {
			return false
		}
	}
	for _, v := range r.Header.Values("Forwarded") {
		if !forwardedForLoopback(v) {
			return false
		}
	}
	return true
}

// isLoopbackNamed is isLoopback for an address as a forwarding header
// names it: alone or with a port, IPv6 bracketed or not, maybe quoted.
func isLoopbackNamed(s string) bool {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if addr, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return addr.Unmap().IsLoopback()
	}
	return isLoopback(s)
}

// forwardedForLoopback reports whether every for= of a Forwarded header
// (RFC 7239 section 4) names a loopback address; an obfuscated or unknown
// one is not.
func forwardedForLoopback(v string) bool {
	for _, element := range strings.Split(v, ",") {
		for _, pair := range strings.Split(element, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(name, "for") && !isLoopbackNamed(value) {
				return false
			}
		}
	}
	return true
}
