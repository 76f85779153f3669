package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// refusalCase is one token a verifier must refuse, and why.
type refusalCase struct {
	name  string
	token func(t *testing.T) string
	want  error
}

func TestHS256Refusals(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	run(t, v, []refusalCase{
		{"missing", func(*testing.T) string { return "" }, ErrMissingToken},
		{"one part", func(*testing.T) string { return "abc" }, ErrMalformed},
		{"garbage parts", func(*testing.T) string { return "a.b.c" }, ErrMalformed},
		{"header not JSON", func(t *testing.T) string {
			return b64("not json") + "." + b64(`{"sub":"x"}`) + ".c2ln"
		}, ErrMalformed},
		{"claims not JSON", func(t *testing.T) string {
			return b64(`{"alg":"HS256"}`) + "." + b64("{") + ".c2ln"
		}, ErrMalformed},
		{"no alg", func(t *testing.T) string {
			return b64(`{"typ":"JWT"}`) + "." + b64(`{"sub":"x"}`) + ".c2ln"
		}, ErrMalformed},
		{"exp not a number", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("exp", "tomorrow"))
		}, ErrMalformed},
		{"allow not an object", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("allow", "chat.>"))
		}, ErrMalformed},
		{"padded signature", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, valid()) + "="
		}, ErrMalformed},
		{"wrong secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("another secret"), valid())
		}, ErrBadSignature},
		{"claims changed after signing", func(t *testing.T) string {
			parts := strings.Split(sign(t, jwt.SigningMethodHS256, testSecret, valid()), ".")
			parts[1] = b64(`{"sub":"admin","allow":{"subscribe":[">"]}}`)
			return strings.Join(parts, ".")
		}, ErrBadSignature},
		{"signature cut", func(t *testing.T) string {
			s := sign(t, jwt.SigningMethodHS256, testSecret, valid())
			return s[:strings.LastIndexByte(s, '.')+1]
		}, ErrBadSignature},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("exp", now.Add(-time.Second).Unix()))
		}, ErrExpired},
		{"not valid yet", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("nbf", now.Add(time.Minute).Unix()))
		}, ErrNotValidYet},
		{"no exp", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("exp", nil))
		}, ErrNoExpiry},
		{"exp null", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("exp", json.RawMessage("null")))
		}, ErrNoExpiry},
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())
		}, ErrUnexpectedMethod},
		{"alg unknown", func(t *testing.T) string {
			return b64(`{"alg":"XS999"}`) + "." + b64(`{"sub":"x"}`) + ".c2ln"
		}, ErrUnexpectedMethod},
		{"HS512", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS512, testSecret, valid())
		}, ErrUnexpectedMethod},
		{"RS256 token", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), valid())
		}, ErrUnexpectedMethod},
		{"invalid subscribe pattern", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("allow",
				map[string]any{"subscribe": []string{"chat.>.x"}}))
		}, ErrBadAllow},
		{"invalid publish pattern", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("allow",
				map[string]any{"publish": []string{""}}))
		}, ErrBadAllow},
	})
}

func TestRS256Refusals(t *testing.T) {
	pubPEM := publicPEM(t, &rsaKey().PublicKey)
	v := newVerifier(t, Config{PublicKeyPEM: pubPEM})
	run(t, v, []refusalCase{
		{"another RSA key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaOther(), valid())
		}, ErrBadSignature},
		{"HS256 with the public key PEM as secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pubPEM, valid())
		}, ErrUnexpectedMethod},
		{"ES256 token", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecKey(), valid())
		}, ErrUnexpectedMethod},
		{"PS256 token with the same key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodPS256, rsaKey(), valid())
		}, ErrUnexpectedMethod},
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())
		}, ErrUnexpectedMethod},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), with("exp", now.Add(-time.Hour).Unix()))
		}, ErrExpired},
		{"no exp", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), with("exp", nil))
		}, ErrNoExpiry},
	})
}

func TestES256Refusals(t *testing.T) {
	v := newVerifier(t, Config{PublicKeyPEM: publicPEM(t, &ecKey().PublicKey)})
	run(t, v, []refusalCase{
		{"another P-256 key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecOther(), valid())
		}, ErrBadSignature},
		{"RS256 token", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey(), valid())
		}, ErrUnexpectedMethod},
		{"HS256 with the public key PEM as secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, publicPEM(t, &ecKey().PublicKey), valid())
		}, ErrUnexpectedMethod},
		{"not valid yet", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecKey(), with("nbf", now.Add(time.Hour).Unix()))
		}, ErrNotValidYet},
	})
}

func run(t *testing.T, v *Verifier, cases []refusalCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := v.Verify(c.token(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify error = %v, want %v", err, c.want)
			}
			if info.Subject != "" || info.Perms != nil {
				t.Errorf("a refused token still gave %+v", info)
			}
			if !strings.HasPrefix(err.Error(), "herald/auth: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Reason == "" || strings.Contains(r.Reason, "herald/") {
				t.Errorf("error %v gives the client no reason written for it", err)
			}
		})
	}
}

func TestAcceptedTokens(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(t *testing.T) Config
		method jwt.SigningMethod
		key    func() any
		alg    string
	}{
		{"HS256", func(*testing.T) Config { return Config{Secret: testSecret} },
			jwt.SigningMethodHS256, func() any { return testSecret }, "HS256"},
		{"RS256 public key", func(t *testing.T) Config {
			return Config{PublicKeyPEM: publicPEM(t, &rsaKey().PublicKey)}
		}, jwt.SigningMethodRS256, func() any { return rsaKey() }, "RS256"},
		{"RS256 certificate", func(t *testing.T) Config {
			return Config{PublicKeyPEM: certPEM(t, rsaKey())}
		}, jwt.SigningMethodRS256, func() any { return rsaKey() }, "RS256"},
		{"ES256 public key", func(t *testing.T) Config {
			return Config{PublicKeyPEM: publicPEM(t, &ecKey().PublicKey)}
		}, jwt.SigningMethodES256, func() any { return ecKey() }, "ES256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(t, c.cfg(t))
			if v.Algorithm() != c.alg {
				t.Errorf("Algorithm() = %s, want %s", v.Algorithm(), c.alg)
			}
			info, err := v.Verify(sign(t, c.method, c.key(), valid()))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if info.Subject != "user-42" || !info.Expires.Equal(now.Add(time.Hour)) {
				t.Errorf("got subject %q expires %v", info.Subject, info.Expires)
			}
			if !info.Perms.CanSubscribe("chat.a.b") || info.Perms.CanPublish("chat.a.b") {
				t.Errorf("permissions do not follow the allow claim")
			}
		})
	}
}

func TestClaimsHeraldIgnores(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret, AllowNoExp: true})
	token := sign(t, jwt.SigningMethodHS256, testSecret, with(
		"exp", nil, // no exp: never expires
		"iat", now.Add(24*time.Hour).Unix(), // iat in the future is not checked
		"aud", 7, // a malformed aud is not read
		"iss", []int{1},
	))
	info, err := v.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !info.Expires.IsZero() {
		t.Errorf("Expires = %v without exp, want zero", info.Expires)
	}
}

func TestLeewayForgivesSkew(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret, Leeway: 30 * time.Second})
	for _, c := range []jwt.MapClaims{
		with("exp", now.Add(-10*time.Second).Unix()),
		with("nbf", now.Add(10*time.Second).Unix()),
	} {
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, c)); err != nil {
			t.Errorf("within leeway: %v", err)
		}
	}
	late := with("exp", now.Add(-time.Minute).Unix())
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, late)); !errors.Is(err, ErrExpired) {
		t.Errorf("past leeway: %v, want ErrExpired", err)
	}
}

func TestTokenWithoutAllowGrantsNothing(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	info, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, with("allow", nil)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if info.Perms == nil {
		t.Fatal("Perms is nil, which the broker reads as allowed everything")
	}
	if info.Perms.CanSubscribe("chat.a") || info.Perms.CanPublish("chat.a") {
		t.Error("a token without allow may subscribe or publish")
	}
}

func TestUnexpectedMethodNamesBoth(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	_, err := v.Verify(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()))
	if got, want := err.Error(), `herald/auth: unexpected signing method "none", want HS256`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestMalformedSaysWhichPart(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	for token, want := range map[string]string{
		"abc":                                "herald/auth: malformed token: want three dot-separated parts",
		b64("{") + "." + b64("{}") + ".c2ln": "herald/auth: malformed token: unreadable header",
		b64(`{"alg":"HS256"}`) + "." + b64("[") + ".c2ln": "herald/auth: malformed token: unreadable claims",
		b64(`{"alg":"HS256"}`) + "." + b64("{}") + ".!!":  "herald/auth: malformed token: unreadable signature",
		b64(`{"typ":"JWT"}`) + "." + b64("{}") + ".c2ln":  "herald/auth: malformed token: no signing method (alg)",
	} {
		if _, err := v.Verify(token); err == nil || err.Error() != want {
			t.Errorf("Verify(%q) = %v, want %q", token, err, want)
		}
	}
}

// AllowNoExp takes back the 1.1 refusal of tokens without exp, and still
// enforces an exp that is there.
func TestAllowNoExp(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret, AllowNoExp: true})
	info, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, with("exp", nil)))
	if err != nil || !info.Expires.IsZero() {
		t.Fatalf("Verify = %+v, %v; want a token that never expires", info, err)
	}
	expired := with("exp", now.Add(-time.Minute).Unix())
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, expired)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token with AllowNoExp: %v, want ErrExpired", err)
	}
}
