package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
)

// TokenVerifier checks a client's token and says who the client is and
// what it may do. The JWT checks of PROTOCOL.md section 5 implement it.
type TokenVerifier interface {
	// Verify returns the client described by token, or why it is refused.
	// RemoteAddr of the result is filled in by the caller.
	Verify(ctx context.Context, token string) (broker.ClientInfo, error)
}

// ErrNoToken is returned by clientInfo when a token is required and the
// request carries none.
var ErrNoToken = errors.New("herald: a token is required: ?token= or Authorization: Bearer")

// handleWS checks the origin and the client's token, then hands the
// request to transport for the upgrade.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		writeFailure(w, broker.CodeUnavailable, "the server is shutting down")
		return
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		writeFailure(w, broker.CodeForbidden, "origin "+r.Header.Get("Origin")+" is not allowed")
		return
	}
	info, err := s.clientInfo(r)
	if err != nil {
		writeFailure(w, broker.CodeUnauthorized, tokenProblem(err))
		return
	}
	s.ws.Upgrade(w, r, info)
}

// originAllowed applies HERALD_ALLOWED_ORIGINS: an empty list allows any
// origin, and a request without Origin (not a browser) is never refused.
func (s *Server) originAllowed(origin string) bool {
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSpace(o), origin) {
			return true
		}
	}
	return false
}

// clientInfo is where client tokens are checked. With no TokenVerifier
// every client is anonymous and allowed everything (nil Perms).
func (s *Server) clientInfo(r *http.Request) (broker.ClientInfo, error) {
	if s.cfg.Tokens == nil {
		return broker.ClientInfo{RemoteAddr: r.RemoteAddr}, nil
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token, _ = bearer(r)
	}
	if token == "" {
		return broker.ClientInfo{}, ErrNoToken
	}
	info, err := s.cfg.Tokens.Verify(r.Context(), token)
	if err != nil {
		return broker.ClientInfo{}, err
	}
	info.RemoteAddr = r.RemoteAddr
	return info, nil
}

// tokenProblem is the reason a refused client is told.
func tokenProblem(err error) string {
	var e *broker.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return strings.TrimPrefix(err.Error(), "herald: ")
}

// NewAcceptor adapts b to what transport needs: each opened connection
// becomes a broker session, which receives what the connection brings.
func NewAcceptor(b *broker.Broker) transport.Acceptor {
	return acceptor{b}
}

type acceptor struct{ b *broker.Broker }

func (a acceptor) Open(c broker.Conn, info broker.ClientInfo) transport.Receiver {
	return a.b.Connect(c, info)
}
