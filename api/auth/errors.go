package auth

import (
	"errors"
	"fmt"
)

// Why a token is refused. Verify returns one of these, or a Refusal that
// tells the client more and matches one of these with errors.Is.
var (
	ErrMissingToken     = refusal("token required (?token= or Authorization: Bearer)")
	ErrMalformed        = refusal("malformed token")
	ErrBadSignature     = refusal("bad signature")
	ErrUnexpectedMethod = refusal("unexpected signing method")
	ErrExpired          = refusal("token expired")
	ErrNoExpiry         = refusal("token has no exp (expiry)")
	ErrNotValidYet      = refusal("token not valid yet")
	ErrBadAllow         = refusal("invalid allow claim")
	ErrBadInfo          = refusal("invalid info claim")
)

// Why New refuses a configuration.
var (
	// ErrNoKey: neither a secret nor a public key is set. Client tokens
	// are then off; the caller decides what that means (Config.Empty).
	ErrNoKey = errors.New("herald/auth: no JWT secret or public key configured")
	// ErrTwoKeys: a secret and a public key are both set, and a token
	// may be checked against one algorithm family only.
	ErrTwoKeys = errors.New("herald/auth: set a JWT secret or a public key, not both")
	// ErrBadKey: the public key file cannot be used.
	ErrBadKey = errors.New("herald/auth: unusable JWT public key")
)

// Refusal is why a token was refused. Reason is what the client is told:
// written for it, and holding nothing secret (no token, a bounded echo of
// what the client sent).
type Refusal struct {
	Reason string
	kind   *Refusal // the Err value this one details; nil for an Err value
	cause  error    // what the JWT library said, for logs; may be nil
}

func refusal(reason string) *Refusal { return &Refusal{Reason: reason} }

func (r *Refusal) Error() string {
	if r.cause != nil {
		return "herald/auth: " + r.Reason + ": " + r.cause.Error()
	}
	return "herald/auth: " + r.Reason
}

// Is makes a detailed Refusal match the Err value it details.
func (r *Refusal) Is(target error) bool { return r.kind != nil && target == error(r.kind) }

func (r *Refusal) Unwrap() error { return r.cause }

// detail returns a Refusal of the same kind whose reason adds the
// formatted text to r's.
func (r *Refusal) detail(format string, args ...any) *Refusal {
	return &Refusal{Reason: r.Reason + fmt.Sprintf(format, args...), kind: r}
}

// because returns a Refusal of the same kind that keeps cause for logs.
func (r *Refusal) because(cause error) *Refusal {
	return &Refusal{Reason: r.Reason, kind: r, cause: cause}
}
