package auth

import (
	"errors"
	"testing"
)

// FuzzVerify feeds the verifier arbitrary tokens: it must never panic,
// must refuse with one of the package's errors, and must accept nothing
// but the exact token the secret signed.
func FuzzVerify(f *testing.F) {
	good := sign(f, jwtHS256, testSecret, valid())
	f.Add(good)
	f.Add(sign(f, jwtHS256, []byte("wrong"), valid()))
	f.Add(sign(f, jwtHS256, testSecret, with("allow", map[string]any{"subscribe": []string{"a.>.b"}})))
	f.Add("e30.e30.")
	f.Add("..")
	f.Add("")
	v := newVerifier(f, Config{Secret: testSecret})
	sentinels := []error{ErrMissingToken, ErrMalformed, ErrBadSignature,
		ErrUnexpectedMethod, ErrExpired, ErrNotValidYet, ErrBadAllow}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(token)
		if err == nil {
			if token != good {
				t.Fatalf("accepted a token the secret did not sign: %q", token)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps none of the package's errors", err)
	})
}
