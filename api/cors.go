package api

import (
	"net/http"
	"strconv"
	"time"
)

// corsMaxAge is how long a browser may keep a preflight's answer.
const corsMaxAge = 10 * time.Minute

// cors lets the dashboard, served by one node, read /api/stats,
// /api/topics and /api/presence of the others (and get a tail token):
// the answer names the request's Origin when it is in
// HERALD_ALLOWED_ORIGINS, or any origin when that list is empty.
// OPTIONS is the browser's preflight, sent without the API key; it is
// answered here and never reaches h. Routes that only backends call get
// no CORS at all.
func (s *Server) cors(h http.Handler) http.Handler { return s.corsFor("GET, HEAD", h) }

// corsFor is cors for a route of the given methods.
func (s *Server) corsFor(methods string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := s.corsOrigin(origin)
		hdr := w.Header()
		if origin != "" {
			hdr.Add("Vary", "Origin")
		}
		if allowed != "" {
			hdr.Set("Access-Control-Allow-Origin", allowed)
		}
		if r.Method != http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		hdr.Set("Allow", methods+", OPTIONS")
		if allowed != "" {
			hdr.Set("Access-Control-Allow-Methods", methods)
			hdr.Set("Access-Control-Allow-Headers", "Authorization")
			hdr.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// corsOrigin is the Access-Control-Allow-Origin value for origin, or ""
// when that origin may not read the answer.
func (s *Server) corsOrigin(origin string) string {
	switch {
	case len(s.cfg.AllowedOrigins) == 0:
		return "*"
	case origin != "" && s.originListed(origin):
		return origin
	default:
		return ""
	}
}

// refusalsReadable lets a page of any origin read why /ws refused it. A
// browser shows a refused WebSocket only as close code 1006, so herald.js
// asks the same URL over plain HTTP, which takes the same checks and gets
// the same 401, 403, 429 or 503. WebSocket handshakes are not under CORS
// (any page may try one; HERALD_ALLOWED_ORIGINS decides), and the answer
// holds only the refusal, so reading it gives a page nothing the handshake
// did not: a refused origin may read that it is refused. An upgrade is
// answered by transport, unchanged.
func refusalsReadable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && r.Header.Get("Upgrade") == "" {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		h.ServeHTTP(w, r)
	})
}
