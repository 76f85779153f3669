package auth

import (
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// maxEchoedAlg bounds how much of a client's "alg" header is echoed back.
const maxEchoedAlg = 32

// refusal turns a jwt error into one of the package's errors. The wrong
// algorithm is named first: it says most about what the client did wrong.
func (v *Verifier) refusal(t *jwt.Token, err error) error {
	if alg, ok := headerAlg(t); ok && alg != v.alg {
		if len(alg) > maxEchoedAlg {
			alg = alg[:maxEchoedAlg]
		}
		return ErrUnexpectedMethod.detail(" %q, want %s", alg, v.alg)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrMalformed.detail(": %s", malformedReason(err))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrNoExpiry // exp is the only claim required
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotValidYet
	default:
		return ErrMalformed.because(err)
	}
}

// headerAlg is the "alg" of a token whose header could be read.
func headerAlg(t *jwt.Token) (string, bool) {
	if t == nil || t.Header == nil {
		return "", false
	}
	alg, ok := t.Header["alg"].(string)
	return alg, ok
}

// malformedReason says which part of the token could not be read, without
// echoing the token.
func malformedReason(err error) string {
	// jwt says which part failed only in its message; an unknown message
	// costs the detail, never the refusal.
	switch msg := err.Error(); {
	case strings.Contains(msg, "number of segments"):
		return "want three dot-separated parts"
	case strings.Contains(msg, "decode header"):
		return "unreadable header"
	case strings.Contains(msg, "decode claim"):
		return "unreadable claims"
	case strings.Contains(msg, "decode signature"):
		return "unreadable signature"
	case strings.Contains(msg, "(alg)"):
		return "no signing method (alg)"
	default:
		return "unreadable"
	}
}
