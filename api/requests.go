package api

import (
	"net/http"
	"strings"
)

// paceRequests paces, per client address (Config.Requests), the requests
// that carry no valid API key: /healthz, /readyz, static files, every
// refusal of /api/* and 404. Each costs the node a parse and an answer,
// and a keep-alive connection sent them as fast as its socket took them:
// one anonymous connection pipelining GET /healthz got 57,000 answers a
// second, a core of the node. Past the pace the request is answered as
// usual, so a prober never reads "not ready" for it, but its connection
// is closed after the answer (Connection: close): the next needs a new
// connection, which the per-address connection limits count (Conns).
// /ws and /sse, whose every request Conns counts, and /metrics, which
// Probes paces, are left to those; so is a request with a valid API key,
// or from a loopback caller when no key is configured, as a backend's
// requests must never be held back by others of its address (README,
// "API keys").
func (s *Server) paceRequests(next http.Handler) http.Handler {
	if s.cfg.Requests == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.pacedElsewhere(r) && !s.cfg.Requests.Meter(s.clientIP.IP(r)) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// pacedElsewhere reports whether r is left out of paceRequests.
func (s *Server) pacedElsewhere(r *http.Request) bool {
	switch p := r.URL.Path; {
	case p == "/ws", p == "/sse", p == "/metrics":
		return true
	case !strings.HasPrefix(p, "/api/"):
		return false
	case len(s.keys) == 0:
		return loopbackCaller(r)
	}
	token, ok := bearer(r)
	return ok && s.validKey(token)
}
