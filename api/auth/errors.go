package auth

import "errors"

// Why a token is refused. Verify wraps one of these with %w, so a caller
// tells them apart with errors.Is and can answer the error text itself: it
// is written for the client, and holds nothing secret.
var (
	ErrMissingToken     = errors.New("auth: token required (?token= or Authorization: Bearer)")
	ErrMalformed        = errors.New("auth: malformed token")
	ErrBadSignature     = errors.New("auth: bad signature")
	ErrUnexpectedMethod = errors.New("auth: unexpected signing method")
	ErrExpired          = errors.New("auth: token expired")
	ErrNoExpiry         = errors.New("auth: token has no exp (expiry)")
	ErrNotValidYet      = errors.New("auth: token not valid yet")
	ErrBadAllow         = errors.New("auth: invalid allow claim")
)

// Why New refuses a configuration.
var (
	// ErrNoKey: neither a secret nor a public key is set. Client tokens
	// are then off; the caller decides what that means (Config.Empty).
	ErrNoKey = errors.New("auth: no JWT secret or public key configured")
	// ErrTwoKeys: a secret and a public key are both set, and a token
	// may be checked against one algorithm family only.
	ErrTwoKeys = errors.New("auth: set a JWT secret or a public key, not both")
	// ErrBadKey: the public key file cannot be used.
	ErrBadKey = errors.New("auth: unusable JWT public key")
)
