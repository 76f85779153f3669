package api

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/herald-broker/herald/broker"
)

// The realms of the challenges a 401 carries (RFC 9110 section 11.6.1).
// Both credentials come in the Bearer scheme; a client token is not an
// API key, so each has a realm of its own.
const (
	clientRealm = "herald"     // a client token on /ws and /sse
	apiRealm    = "herald-api" // an API key on /api/*
)

// challenge sets the WWW-Authenticate header of a 401 for realm. refused:
// the request carried a credential that was judged and refused, which
// RFC 6750 section 3.1 names invalid_token; a request that sent none (or
// sent it in another scheme) gets no error attribute.
func challenge(w http.ResponseWriter, realm string, refused bool) {
	v := `Bearer realm="` + realm + `"`
	if refused {
		v += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", v)
}

// keyBytes keeps the non-empty keys, as bytes for constant-time comparison.
func keyBytes(keys []string) [][]byte {
	var out [][]byte
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, []byte(k))
		}
	}
	return out
}

// apiRoute is a route under /api/: the key is checked first, so that a
// caller without one learns neither which paths exist (404) nor which
// methods they take (405); then the method.
func (s *Server) apiRoute(method string, h http.HandlerFunc) http.Handler {
	return s.key(s.route(method, h).ServeHTTP)
}

// key lets a request through to h only with a valid API key, or, when no
// key is configured, only from a loopback address.
func (s *Server) key(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.keys) == 0 {
			// The peer's own address, never X-Forwarded-For, which any
			// caller can send; and a request a proxy on the same host
			// forwarded for someone elsewhere is that caller's, not the
			// proxy's (loopback.go).
			if !loopbackCaller(r) {
				s.refuse(w, r, refusedAPIKey, broker.CodeForbidden, "no API keys are configured: only loopback callers are served")
				return
			}
			h(w, r)
			return
		}
		token, ok := bearer(r)
		if !ok {
			challenge(w, apiRealm, false)
			s.refuse(w, r, refusedAPIKey, broker.CodeUnauthorized, "an API key is required: Authorization: Bearer <key>")
			return
		}
		if !s.validKey(token) {
			challenge(w, apiRealm, true)
			s.refuse(w, r, refusedAPIKey, broker.CodeUnauthorized, "the API key is not valid")
			return
		}
		h(w, r)
	}
}

// validKey compares token with every key in constant time, so neither a
// match nor its position shows in the time taken.
func (s *Server) validKey(token string) bool {
	found := 0
	for _, k := range s.keys {
		found |= subtle.ConstantTimeCompare([]byte(token), k)
	}
	return found == 1
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(h[len(prefix):])
	return token, token != ""
}
