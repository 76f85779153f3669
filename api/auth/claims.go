package auth

import (
	"encoding/json"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/broker"
)

// claims holds only what Herald reads. Other claims (iat, aud, iss...)
// are not decoded, so a token is never refused over one Herald ignores.
type claims struct {
	Subject   string           `json:"sub"`
	Expires   *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	Allow     *allow           `json:"allow"`
	// Info is who the user is to others, in presence (docs/protocol.md
	// section 8); Subs the topics the connection is subscribed to as it
	// opens (section 9).
	Info json.RawMessage `json:"info"`
	Subs []string        `json:"subs"`
}

// allow is the allow claim: the patterns a subscription or a publish must
// fall under.
type allow struct {
	Subscribe []string `json:"subscribe"`
	Publish   []string `json:"publish"`
}

// permissions checks the allow claim. A token without one gets
// permissions that allow nothing: never nil, which the broker reads as
// "allowed everything".
func (c *claims) permissions() (*Permissions, error) {
	if c.Allow == nil {
		return &Permissions{}, nil
	}
	return NewPermissions(c.Allow.Subscribe, c.Allow.Publish)
}

// The jwt.Claims interface: the validator reads exp and nbf through it.

var _ jwt.Claims = (*claims)(nil)

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Expires, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// checkPatterns refuses a list holding anything but valid patterns.
func checkPatterns(kind string, patterns []string) error {
	for _, p := range patterns {
		if !broker.ValidPattern(p) {
			return ErrBadAllow.detail(": %s pattern %q is not a valid pattern", kind, truncate(p))
		}
	}
	return nil
}

// truncate bounds what of a client's input is echoed in an error.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
