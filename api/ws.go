package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap"
)

// handleWS runs the checks of a WebSocket upgrade, cheapest and least
// revealing first, then hands the request to transport. A client refused
// by the per-address limits learns nothing about its token. A refused
// request's connection is closed after the answer, so that it gives back
// its accept-time slot at once.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close") // an upgrade answers with its own headers
	if s.closing.Load() {
		writeFailure(w, broker.CodeUnavailable, "the server is shutting down")
		return
	}
	if s.cfg.OpenFiles != nil && !s.cfg.OpenFiles.Room() {
		// Refused now, or upgraded and then dropped when transport
		// cannot get a descriptor for the socket.
		writeFailure(w, broker.CodeUnavailable, "the server is near its open-file limit")
		return
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		s.refuse(w, r, refusedOrigin, broker.CodeForbidden, "origin "+r.Header.Get("Origin")+" is not allowed")
		return
	}
	ip := s.clientIP.IP(r)
	s.warnUntrustedForwarding(r)
	release, ok := s.acquire(r, ip)
	if !ok {
		w.Header().Set("Retry-After", "1")
		s.refuse(w, r, refusedConnections, broker.CodeRateLimited, tooManyConnections)
		return
	}
	info, err := s.clientInfo(r)
	if err != nil {
		release()
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.refuse(w, r, refusedToken, broker.CodeUnauthorized, tokenProblem(err))
		return
	}
	if ip.IsValid() {
		info.RemoteAddr = ip.String()
	}
	s.upgrade(w, r, info, release)
}

// upgrade hands r to transport. The connection's slots, the upgrade's own
// and the accept-time one the hijack takes over, are released when the
// WebSocket ends, or at once when the handshake fails: exactly one of the
// two happens.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, info broker.ClientInfo, release func()) {
	h := newHandover(w)
	all := h.releaseAll(release)
	if !s.ws.Upgrade(h, r, info, releasingAcceptor{b: s.broker, release: all}) {
		all() // no connection holds the slots
	}
}

// warnUntrustedForwarding says once that a peer sent X-Forwarded-For
// without being a trusted proxy: if it is a proxy, all its clients share
// its per-address limits, which is seldom what the operator wants.
func (s *Server) warnUntrustedForwarding(r *http.Request) {
	// Cheapest first: once warned, an upgrade pays one atomic load.
	if s.warnedForwarding.Load() || s.cfg.Conns == nil || !s.cfg.Conns.Enabled() ||
		!s.clientIP.IgnoresForwarding(r) || s.warnedForwarding.Swap(true) {
		return
	}
	s.log.Warn("X-Forwarded-For from a peer that is not in HERALD_TRUSTED_PROXIES is ignored: "+
		"every client behind it counts as that peer for the per-address limits",
		zap.String("peer", r.RemoteAddr))
}

// originAllowed applies HERALD_ALLOWED_ORIGINS: an empty list allows any
// origin, and a request without Origin (not a browser) is never refused.
func (s *Server) originAllowed(origin string) bool {
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	return s.originListed(origin)
}

// originListed reports whether origin is in HERALD_ALLOWED_ORIGINS.
func (s *Server) originListed(origin string) bool {
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSpace(o), origin) {
			return true
		}
	}
	return false
}

// clientInfo checks the client's token. With no TokenVerifier every
// client is anonymous and allowed everything (nil Perms).
func (s *Server) clientInfo(r *http.Request) (broker.ClientInfo, error) {
	if s.cfg.Tokens == nil {
		return broker.ClientInfo{RemoteAddr: r.RemoteAddr}, nil
	}
	token := auth.TokenFromRequest(r)
	if token == "" {
		return broker.ClientInfo{}, auth.ErrMissingToken
	}
	info, err := s.cfg.Tokens.Verify(token)
	if err != nil {
		return broker.ClientInfo{}, err
	}
	info.RemoteAddr = r.RemoteAddr
	return info, nil
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

// releasingAcceptor adapts the broker to what transport needs: it opens
// one connection as a broker session, which receives what the connection
// brings, and gives
// back its per-address slot when the connection is gone. Transport calls
// Disconnected exactly once, after Open; release may be called more than
// once and counts only the first.
type releasingAcceptor struct {
	b       *broker.Broker
	release func()
}

func (a releasingAcceptor) Open(c broker.Conn, info broker.ClientInfo) transport.Receiver {
	return releasingReceiver{Receiver: a.b.Connect(c, info), release: a.release}
}

type releasingReceiver struct {
	transport.Receiver
	release func()
}

func (r releasingReceiver) Disconnected() {
	r.Receiver.Disconnected()
	r.release()
}
