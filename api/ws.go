package api

import (
	"net/http"
	"strings"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap"
)

// handleWS hands a request that passed admit to transport for the
// WebSocket upgrade. A refused request's connection is closed after the
// answer, so that it gives back its accept-time slot at once.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close") // an upgrade answers with its own headers
	adm, ok := s.admit(w, r)
	if !ok {
		return
	}
	upgrade := r.Header.Get("Upgrade") != ""
	if !s.paceSubs(w, r, &adm, upgrade) {
		return
	}
	if !upgrade {
		// A plain GET (herald.js asking why its WebSocket failed) passed
		// every check. It is answered here, not by the handshake library
		// on the raw connection, so that the CORS header stays and a page
		// of any origin learns the node refused nothing (docs/protocol.md
		// section 2). Not a JSON refusal: herald.js takes those as final.
		adm.slot.Release()
		http.Error(w, "every check passed; this is not a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	s.upgrade(w, r, adm.info, adm.slot)
}

// upgrade hands r to transport. The connection's slots, the upgrade's own
// and the accept-time one the hijack takes over, are released when the
// WebSocket ends, or at once when the handshake fails: exactly one of the
// two happens. So is what its subs claim was counted (info.SubsPaid):
// given back by its session for each topic not set up, or whole here.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, info broker.ClientInfo, own *limits.Slot) {
	h := newHandover(w)
	if !s.ws.Upgrade(h, r, info, releasingAcceptor{b: s.broker, h: h, own: own}) {
		own.Release() // no connection holds the slots
		h.accept.Release()
		s.broker.GiveBackSubs(info.SubsPaid)
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

// releasingAcceptor adapts the broker to what transport needs: it opens
// one connection as a broker session, which receives what the connection
// brings, and gives back its per-address slots when the connection is
// gone (releasingReceiver).
type releasingAcceptor struct {
	b   *broker.Broker
	h   *handover    // its Hijack has run when Open is called
	own *limits.Slot // the upgrade's own; nil: none
}

func (a releasingAcceptor) Open(c broker.Conn, info broker.ClientInfo) transport.Receiver {
	return releasing(a.b.Connect(c, info), info.Pacer, a.h.accept, a.own)
}
