package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
)

// ConnectAuthorizer is the connect hook (docs/protocol.md section 11): the
// backend says who a connection without a token is. api/hooks implements
// it over HTTP.
type ConnectAuthorizer interface {
	// AuthorizeConnect returns the claims of the connection r opens,
	// which will carry the id session and comes from ip, as a token's
	// would be. Its error is a *broker.Error: unauthorized or forbidden
	// when the backend refused, unavailable when it could not tell,
	// rate_limited when ip already waits for too many answers.
	AuthorizeConnect(ctx context.Context, r *http.Request, session, ip string) (broker.ClientInfo, error)
}

// errHookAnswerExpired refuses a connection whose connect-hook answer
// has an expire_at already passed, with 401 as an expired token.
var errHookAnswerExpired = &broker.Error{Code: broker.CodeUnauthorized,
	Message: "the connect hook's answer has expired (its expire_at has passed)"}

// clientInfo says who the client of an upgrade request is: a request
// with a token is judged by the token alone; one without (or every one,
// when no JWT key is configured) by the connect hook when there is one;
// otherwise a missing token is refused, and with no JWT key every client
// is anonymous and allowed everything (nil Perms). ip is the client's
// address as the limits see it, pacer its command budget (its subs must
// fit in it: CheckClient).
func (s *Server) clientInfo(r *http.Request, ip string, pacer broker.AddressPacer) (broker.ClientInfo, error) {
	token := auth.TokenFromRequest(r)
	switch {
	case isTailToken(token): // the dashboard's listener, before any hook
		return s.tailInfo(token, time.Now())
	case s.cfg.Tokens != nil && token != "":
		info, err := s.cfg.Tokens.Verify(token)
		if err != nil {
			return broker.ClientInfo{}, err
		}
		// Its subs must not cost more than a connection may: 401.
		info.Pacer = pacer
		return info, s.broker.CheckClient(info)
	case s.cfg.Connect != nil:
		session := uuid.NewString()
		info, err := s.cfg.Connect.AuthorizeConnect(r.Context(), r, session, ip)
		if err != nil {
			return broker.ClientInfo{}, err
		}
		info.Pacer = pacer
		if err := s.broker.CheckClient(info); err != nil {
			// The backend's answer costs more than a connection may: a
			// bad answer, as the hook's other bad answers (503).
			return broker.ClientInfo{}, &broker.Error{Code: broker.CodeUnavailable,
				Message: "the connect hook's answer: " + err.(*broker.Error).Message, Err: err}
		}
		if !info.Expires.IsZero() && !info.Expires.After(time.Now()) {
			// Refused as a token already expired is, before anything opens:
			// /ws would send welcome then 4001, /sse a lone close event.
			return broker.ClientInfo{}, errHookAnswerExpired
		}
		info.Session = session
		return info, nil
	case s.cfg.Tokens == nil:
		return broker.ClientInfo{}, nil
	}
	return broker.ClientInfo{}, auth.ErrMissingToken
}

// refuseClient answers an upgrade whose client clientInfo did not accept:
// 401 with a Bearer challenge for a token, the hook's own status for the
// connect hook's refusal (401, 403 or 503; 429 with Retry-After when the
// address has its share of the hook's requests waiting already).
func (s *Server) refuseClient(w http.ResponseWriter, r *http.Request, err error) {
	var e *broker.Error
	if errors.As(err, &e) && e.Code != broker.CodeUnauthorized {
		retryAfter(w, err)
		s.refuse(w, r, refusedHook, e.Code, e.Message)
		return
	}
	challenge(w, clientRealm, s.judgesToken(auth.TokenFromRequest(r)))
	s.refuse(w, r, refusedToken, broker.CodeUnauthorized, tokenProblem(err))
}

// judgesToken reports whether clientInfo judges a request by token, as
// its first two cases do: a tail token always, a JWT when a key is
// configured. Otherwise a token sent is not looked at.
func (s *Server) judgesToken(token string) bool {
	return isTailToken(token) || s.cfg.Tokens != nil && token != ""
}

// paceSubs takes what the subs claim of a WebSocket about to be upgraded
// counts from its address's command budget (broker.PaceSubs), as an SSE
// stream's open takes its topics'; past the budget it answers 429
// rate_limited with Retry-After, gives the upgrade's slot back and
// reports false. What it took goes with the connection
// (ClientInfo.SubsPaid), given back for the topics never set up. With
// take false (a plain GET, asking why an upgrade failed) it takes
// nothing and answers the same when the budget does not hold the claim
// now (broker.CheckSubsPace).
func (s *Server) paceSubs(w http.ResponseWriter, r *http.Request, adm *admission, take bool) bool {
	var err error
	if take {
		adm.info.SubsPaid, err = s.broker.PaceSubs(adm.info.Pacer, adm.info.Subject, adm.info.Subs)
	} else {
		err = s.broker.CheckSubsPace(adm.info.Pacer, adm.info.Subject, adm.info.Subs)
	}
	if err == nil {
		return true
	}
	adm.slot.Release()
	retryAfter(w, err)
	s.fail(w, r, err)
	return false
}
