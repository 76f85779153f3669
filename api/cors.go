package api

import (
	"net/http"
	"strconv"
	"time"
)

// corsMaxAge is how long a browser may keep a preflight's answer.
const corsMaxAge = 10 * time.Minute

// cors lets the dashboard, served by one node, read /api/stats and
// /api/topics of the others: the answer names the request's Origin when
// it is in HERALD_ALLOWED_ORIGINS, or any origin when that list is empty.
// OPTIONS is the browser's preflight, sent without the API key; it is
// answered here and never reaches h. Routes that only backends call get
// no CORS at all.
func (s *Server) cors(h http.Handler) http.Handler {
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
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		if allowed != "" {
			hdr.Set("Access-Control-Allow-Methods", "GET, HEAD")
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
