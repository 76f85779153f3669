package api

import (
	"errors"
	"net/http"

	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
)

// admission is a client connection let in by admit: who it is, and the
// per-address slot its upgrade took, held until it is released (once the
// connection ends, or at once when it is refused later); nil when the
// upgrade counted nothing to give back.
type admission struct {
	info broker.ClientInfo
	slot *limits.Slot
}

// admit runs the checks every client connection takes, on /ws and /sse
// alike, cheapest and least revealing first: the server is not shutting
// down or near its open-file limit, the Origin is allowed, the address is
// within its limits, and the token (or, with none configured, nobody) says
// who the client is. A client refused by the per-address limits learns
// nothing about its token. On false the refusal is written and logged,
// and nothing is held.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (admission, bool) {
	if s.closing.Load() {
		writeFailure(w, broker.CodeUnavailable, errShuttingDown.Error())
		return admission{}, false
	}
	if s.cfg.OpenFiles != nil && !s.cfg.OpenFiles.Room() {
		// Refused now, or taken over and then dropped when transport
		// cannot get a descriptor for the socket.
		writeFailure(w, broker.CodeUnavailable, "the server is near its open-file limit")
		return admission{}, false
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		s.refuse(w, r, refusedOrigin, broker.CodeForbidden, "origin "+r.Header.Get("Origin")+" is not allowed")
		return admission{}, false
	}
	ip := s.clientIP.IP(r)
	s.warnUntrustedForwarding(r)
	slot, pacer, ok := s.acquire(r, ip)
	if !ok {
		w.Header().Set("Retry-After", "1")
		s.refuse(w, r, refusedConnections, broker.CodeRateLimited, tooManyConnections)
		return admission{}, false
	}
	info, err := s.clientInfo(r, clientOf(ip, r.RemoteAddr), pacer)
	if err != nil {
		slot.Release()
		s.refuseClient(w, r, err)
		return admission{}, false
	}
	info.RemoteAddr = clientOf(ip, r.RemoteAddr)
	info.Pacer = pacer
	return admission{info: info, slot: slot}, true
}

// tokenProblem is the reason a refused client is told, as written for it
// by whoever refused the token: auth's Refusal, or a *broker.Error.
func tokenProblem(err error) string {
	var e *broker.Error
	var r *auth.Refusal
	switch {
	case errors.As(err, &e):
		return e.Message
	case errors.As(err, &r):
		return r.Reason
	}
	return "the token is not valid"
}
