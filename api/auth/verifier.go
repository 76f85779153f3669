// Package auth checks the client tokens of docs/protocol.md section 5: a JWT
// signed with HS256 (a shared secret) or with RS256 or ES256 (a public key
// in a PEM file), whose allow claim says which topics the client may
// subscribe and publish to.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/broker"
)

// Config says how client tokens are signed. Set Secret or PublicKeyPEM,
// not both.
type Config struct {
	// Secret is the HS256 key (HERALD_JWT_SECRET).
	Secret []byte
	// PublicKeyPEM is the content of the HERALD_JWT_PUBLIC_KEY file: a
	// PUBLIC KEY block or a CERTIFICATE, holding an RSA key (RS256) or an
	// ECDSA P-256 key (ES256).
	PublicKeyPEM []byte
	// Leeway is the clock skew forgiven on exp and nbf. A token accepted
	// within the leeway after its exp still carries that exp in
	// ClientInfo.Expires, so the broker closes it with 4001 at once: keep
	// it small, or zero.
	Leeway time.Duration
	// AllowNoExp accepts tokens without exp, which never expire
	// (HERALD_JWT_ALLOW_NO_EXP). Since 1.1 they are refused by default: a
	// leaked token that never expires can only be stopped by changing the
	// key.
	AllowNoExp bool
	// Now is the clock; nil: time.Now. Tests set it.
	Now func() time.Time
}

// Empty reports whether no key is configured. Client tokens are then off
// and New refuses the Config with ErrNoKey: the caller decides what that
// means (docs/protocol.md: every client is anonymous and allowed everything).
func (c Config) Empty() bool {
	return len(c.Secret) == 0 && len(c.PublicKeyPEM) == 0
}

// Verifier checks client tokens. It is safe for concurrent use.
type Verifier struct {
	key    any    // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	alg    string // the only "alg" accepted
	parser *jwt.Parser
}

var _ broker.TokenVerifier = (*Verifier)(nil)

// New builds a Verifier that accepts tokens of the configured algorithm
// family only.
func New(cfg Config) (*Verifier, error) {
	key, alg, err := keyOf(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("herald/auth: negative leeway %s", cfg.Leeway)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithLeeway(cfg.Leeway),
		// One spelling per token: base64url without padding and with
		// zero trailing bits (RFC 7515 section 2).
		jwt.WithStrictDecoding(),
	}
	if !cfg.AllowNoExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	return &Verifier{key: key, alg: alg, parser: jwt.NewParser(opts...)}, nil
}

func keyOf(cfg Config) (any, string, error) {
	switch {
	case cfg.Empty():
		return nil, "", ErrNoKey
	case len(cfg.Secret) > 0 && len(cfg.PublicKeyPEM) > 0:
		return nil, "", ErrTwoKeys
	case len(cfg.Secret) > 0:
		return append([]byte(nil), cfg.Secret...), "HS256", nil
	default:
		return publicKey(cfg.PublicKeyPEM)
	}
}

// Algorithm is the one "alg" tokens must carry: HS256, RS256 or ES256.
func (v *Verifier) Algorithm() string { return v.alg }

// Verify checks token and returns who the client is and what it may do.
// RemoteAddr is left for the caller. An empty token is ErrMissingToken;
// every refusal wraps one of the package's Err values.
func (v *Verifier) Verify(token string) (broker.ClientInfo, error) {
	if token == "" {
		return broker.ClientInfo{}, ErrMissingToken
	}
	var c claims
	parsed, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	if err != nil {
		return broker.ClientInfo{}, v.refusal(parsed, err)
	}
	perms, err := c.permissions()
	if err != nil {
		return broker.ClientInfo{}, err
	}
	who, err := broker.CompactInfo(c.Info)
	if err != nil {
		var e *broker.Error
		errors.As(err, &e) // CompactInfo's errors are all *broker.Error
		return broker.ClientInfo{}, ErrBadInfo.detail(": %s", e.Message)
	}
	info := broker.ClientInfo{Subject: c.Subject, Perms: perms, Info: who, Subs: c.Subs}
	if c.Expires != nil {
		info.Expires = c.Expires.Time
	}
	return info, nil
}

// keyFor hands the parser the key only for the configured algorithm. The
// parser has already refused any other alg; checking again here means a
// change of parser options can never let an HS256 token be checked with
// the bytes of a public key as its secret.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if t.Method == nil || t.Method.Alg() != v.alg {
		return nil, ErrUnexpectedMethod
	}
	return v.key, nil
}
