package auth

import (
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesBadConfig(t *testing.T) {
	p384 := mustEC(elliptic.P384())
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey())
	if err != nil {
		t.Fatal(err)
	}
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	cases := []struct {
		name string
		cfg  Config
		want error
		says string
	}{
		{"nothing set", Config{}, ErrNoKey, "no JWT"},
		{"both set", Config{Secret: testSecret, PublicKeyPEM: publicPEM(t, &ecKey().PublicKey)}, ErrTwoKeys, "not both"},
		{"not PEM", Config{PublicKeyPEM: []byte("hello")}, ErrBadKey, "no PEM block"},
		{"a private key", Config{PublicKeyPEM: privatePEM}, ErrBadKey, "found EC PRIVATE KEY"},
		{"broken PUBLIC KEY", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}})}, ErrBadKey, "PUBLIC KEY block"},
		{"broken CERTIFICATE", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})}, ErrBadKey, "CERTIFICATE block"},
		{"P-384", Config{PublicKeyPEM: publicPEM(t, &p384.PublicKey)}, ErrBadKey, "P-384"},
		{"Ed25519", Config{PublicKeyPEM: publicPEM(t, edPub)}, ErrBadKey, "ed25519"},
		{"short RSA", Config{PublicKeyPEM: publicPEM(t, &mustRSA(1024).PublicKey)}, ErrBadKey, "1024 bits"},
		{"negative leeway", Config{Secret: testSecret, Leeway: -time.Second}, nil, "negative leeway"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.cfg)
			if err == nil || v != nil {
				t.Fatalf("New = %v, %v; want a refusal", v, err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v does not wrap %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}

func TestPublicKeyBlocksBeforeTheKey(t *testing.T) {
	// A file may hold other blocks (a private key kept beside it, say);
	// the first public key or certificate is the one used.
	ecDER, err := x509.MarshalECPrivateKey(ecOther())
	if err != nil {
		t.Fatal(err)
	}
	file := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		publicPEM(t, &ecKey().PublicKey)...)
	v := newVerifier(t, Config{PublicKeyPEM: file})
	if _, err := v.Verify(sign(t, jwtES256, ecKey(), valid())); err != nil {
		t.Errorf("Verify with the file's public key: %v", err)
	}
}

func TestPKCS1PublicKey(t *testing.T) {
	block := &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)}
	v := newVerifier(t, Config{PublicKeyPEM: pem.EncodeToMemory(block)})
	if v.Algorithm() != "RS256" {
		t.Errorf("Algorithm() = %s, want RS256", v.Algorithm())
	}
	if _, err := v.Verify(sign(t, jwtRS256, rsaKey(), valid())); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSecretIsCopied(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v := newVerifier(t, Config{Secret: secret})
	secret[0] ^= 0xff // the caller reuses its buffer
	if _, err := v.Verify(sign(t, jwtHS256, testSecret, valid())); err != nil {
		t.Errorf("Verify after the caller changed its slice: %v", err)
	}
}
