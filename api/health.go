package api

import (
	"context"
	"net/http"
	"time"

	"github.com/herald-broker/herald/broker"
)

// readyTimeout bounds one readiness check, so a hung backend answers 503
// before a prober gives up.
const readyTimeout = 2 * time.Second

// tooManyProbes is what a client past its pace on /metrics is told.
const tooManyProbes = "too many requests from this address to /metrics"

// paced answers 429 rate_limited, with Retry-After, to a request past its
// address's pace (Config.Probes), and closes its connection after the
// answer, as paceRequests does: a keep-alive connection past the pace
// got 183,421 of those answers in 5 s, for 4.2 s of node CPU. It serves
// the others with next.
func (s *Server) paced(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Probes != nil && !s.cfg.Probes.Meter(s.clientIP.IP(r)) {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			s.refuse(w, r, refusedProbes, broker.CodeRateLimited, tooManyProbes)
			return
		}
		next(w, r)
	}
}

// handleHealthz answers 200 while the process runs.
func handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 only while the broker can take publishes, and
// 503 from the moment Shutdown starts, so load balancers move away first.
// It is not paced, so that a prober never reads a 429 as "not ready":
// its checks are shared (readiness.go), whoever asks and how often.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		writeFailure(w, broker.CodeUnavailable, errShuttingDown.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.ready.ready(ctx); err != nil {
		writeFailure(w, broker.CodeUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleMetrics serves the configured metrics handler. /metrics is
// reserved for Prometheus; until metrics exist it answers 501.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		writeJSON(w, http.StatusNotImplemented, errorBody{Error: errorDetail{Code: broker.CodeInternal, Message: "metrics are not available in this build"}})
		return
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}
