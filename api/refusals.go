package api

import (
	"net/http"
	"net/netip"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Every refusal is logged, once, by the server's logger named
// broker.RefusalLogger (cmd/herald rate-limits that logger's lines per
// message, so a flood of refusals does not flood the log), at info, with
// the client's address and the reason it was told. Each kind is its own
// message, and so its own budget in the rate limit.
const (
	refusedAPIKey       = "refused: API key"              // 401 or 403 on /api/*
	refusedToken        = "refused: token"                // 401 at /ws
	refusedOrigin       = "refused: origin"               // 403 at /ws
	refusedConnections  = "refused: too many connections" // 429 at accept or at /ws
	refusedHook         = "refused: connect hook"         // 403, 429 or 503 at /ws
	refusedProbes       = "refused: too many probes"      // 429 at /metrics
	refusedTLSHandshake = "refused: TLS handshake"        // closed by net/http (httplog.go)
)

// refused logs the refusal of r with status and reason, the client being
// r's (behind trusted proxies, the one they name). Nothing is built when
// the line would not be written.
func (s *Server) refused(kind string, r *http.Request, status int, reason string) {
	if ce := s.refusals.Check(zap.InfoLevel, kind); ce != nil {
		ce.Write(
			zap.String("client", clientOf(s.clientIP.IP(r), r.RemoteAddr)),
			zap.Int("status", status),
			zap.String("path", r.URL.Path),
			zap.String("reason", reason),
		)
	}
}

// refusedAtAccept logs a connection the Listener closed at accept for its
// address's limits, before a byte of its request was read.
func (s *Server) refusedAtAccept(peer netip.Addr) {
	if ce := s.refusals.Check(zap.InfoLevel, refusedConnections); ce != nil {
		fields := []zap.Field{zap.String("client", peer.String()), zap.String("at", "accept")}
		if s.cfg.TLS == nil { // under TLS the connection is closed without an answer
			fields = append(fields, zap.Int("status", http.StatusTooManyRequests))
		}
		ce.Write(append(fields, zap.String("reason", tooManyConnections))...)
	}
}

// clientOf is ip as text, or the peer's address when ip is not known.
func clientOf(ip netip.Addr, remoteAddr string) string {
	if ip.IsValid() {
		return ip.String()
	}
	return remoteAddr
}

// refuse answers r with code and message, and logs it as kind.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, kind string, code broker.Code, message string) {
	writeFailure(w, code, message)
	s.refused(kind, r, statusOf(code), message)
}
